"""Who may see and decide approval requests, and whether a submission can be approved at all:
every read and command of the approvals service is decided here, from the caller, the action and
the request's case as this service knows it (from the cases service's events). Pure: no I/O."""
from dataclasses import dataclass

from shared.errors import Forbidden, InvalidTransition, NotFound

CASE_ROLES = ("caseworker", "supervisor")
ACTIONS = ("read", "decide")


@dataclass(frozen=True)
class Request:
    """An approval request and its case. `holder`: the case's current caseworker (the requester
    until this service hears of the case)."""

    requested_by: str
    requester_role: str | None
    holder: str
    closed: bool = False
    erased: bool = False


def decides(caller: dict, request: Request) -> bool:
    """The supervisor of the case's current caseworker, never the requester: a supervisor's own
    request (on a case they hold, or one of their team's) goes to their own supervisor. A
    reassignment stays within the team, so it never changes who decides."""
    if caller["role"] != "supervisor" or caller["username"] == request.requested_by:
        return False
    team = caller.get("team", [])
    return request.holder in team or (request.requester_role == "supervisor" and request.requested_by in team)


def may_see(caller: dict, request: Request) -> bool:
    """Whoever holds the case now (not one it was taken from) and their supervisor, and whoever decides."""
    if caller["role"] not in CASE_ROLES:
        return False
    holders = [caller["username"], *(caller.get("team", []) if caller["role"] == "supervisor" else [])]
    return request.holder in holders or decides(caller, request)


def check(caller: dict, action: str, request: Request) -> None:
    """Raises unless `caller` may do `action` on `request`."""
    if action == "read":
        if caller["role"] not in CASE_ROLES:
            raise Forbidden("Only caseworkers and supervisors have an approval queue.")
        if not may_see(caller, request):
            raise NotFound("No such approval request.")
        return
    if action != "decide":
        raise ValueError(action)
    if caller["role"] != "supervisor":
        raise Forbidden("Only supervisors decide on approvals.")
    if caller["username"] == request.requested_by:
        raise Forbidden("You cannot decide on your own request.")
    if not decides(caller, request):
        raise Forbidden("Only the supervisor of the case's caseworker decides on this request.")
    if request.erased:
        raise InvalidTransition("The survivor's identifying data was erased; the case can no longer change.")
    if request.closed:
        raise InvalidTransition("The case is closed.")


def check_submission(caller: dict, approval_needed: bool) -> None:
    """A submission nobody could approve is refused: the requester's own supervisor decides it
    (see `decides`), so a requester without one may only submit what the policy approves at once."""
    if approval_needed and not caller.get("supervisor"):
        raise InvalidTransition("Nobody could approve this: you have no supervisor. "
                                "An admin can give you one.")
