"""Who may see and decide approval requests, and whether a submission can be approved at all:
every read and command of the approvals service is decided here, from the caller, the action and
the request's case as this service knows it (from the cases service's events). Pure: no I/O.

Each organisation has its own approval policy (the rules): anyone signed in reads their own
organisation's; only an admin reads another's, and only an admin sets one. Requests, queues and
decisions stay inside the case's organisation (issue 19)."""
from dataclasses import dataclass

from shared.caller import Caller
from shared.errors import Forbidden, InvalidTransition, NotFound
from shared.organisations import FIRST, organisation_or_first
from shared.vocabulary import CASE_ROLES, Role

ACTIONS = ("read", "decide")
# The services whose word `check_submission` takes: the cases service asks before it accepts a submission.
SUBMISSION_CHECKERS = ("cases",)


@dataclass(frozen=True)
class Request:
    """An approval request and its case. `holder`: the case's current caseworker (the requester
    until this service hears of the case)."""

    requested_by: str
    requester_role: str | None
    holder: str
    closed: bool = False
    erased: bool = False
    organisation: str | None = None  # the case's; None: not known (then nobody sees or decides it)


def same_organisation(caller: Caller, request: Request) -> bool:
    """Whether the request is of the caller's organisation (a caller naming none: the first one's,
    as the gateway sent users before organisations)."""
    return request.organisation is not None and organisation_or_first(caller.organisation) == request.organisation


def decides(caller: Caller, request: Request) -> bool:
    """The supervisor of the case's current caseworker, never the requester: a supervisor's own
    request (on a case they hold, or one of their team's) goes to their own supervisor. A
    reassignment stays within the team, so it never changes who decides."""
    if caller.role != Role.SUPERVISOR or caller.username == request.requested_by:
        return False
    if not same_organisation(caller, request):
        return False
    team = caller.team
    return request.holder in team or (request.requester_role == Role.SUPERVISOR and request.requested_by in team)


def may_see(caller: Caller, request: Request) -> bool:
    """Whoever holds the case now (not one it was taken from) and their supervisor, and whoever decides."""
    if caller.role not in CASE_ROLES or not same_organisation(caller, request):
        return False
    return request.holder in caller.scope or decides(caller, request)


def check(caller: Caller, action: str, request: Request) -> None:
    """Raises unless `caller` may do `action` on `request`."""
    if action == "read":
        _check_has_queue(caller)
        if not may_see(caller, request):
            raise NotFound("No such approval request.")
        return
    if action != "decide":
        raise ValueError(action)
    if caller.role != Role.SUPERVISOR:
        raise Forbidden("Only supervisors decide on approvals.")
    if not same_organisation(caller, request):
        raise NotFound("No such approval request.")  # another organisation's: nothing said of it
    if caller.username == request.requested_by:
        raise Forbidden("You cannot decide on your own request.")
    if not decides(caller, request):
        raise Forbidden("Only the supervisor of the case's caseworker decides on this request.")
    if request.erased:
        raise InvalidTransition("The survivor's identifying data was erased; the case can no longer change.")
    if request.closed:
        raise InvalidTransition("The case is closed.")


def queue_people(caller: Caller) -> list[str]:
    """Whose requests and cases the caller's queue is drawn from (`may_see` then picks from them):
    their own, and a supervisor's team's."""
    _check_has_queue(caller)
    return list(caller.scope)


def check_submission(caller: Caller, approval_needed: bool) -> None:
    """A submission nobody could approve is refused: the requester's own supervisor decides it
    (see `decides`), so a requester without one may only submit what the policy approves at once."""
    if approval_needed and not caller.supervisor:
        raise InvalidTransition("Nobody could approve this: you have no supervisor. "
                                "An admin can give you one.")


def check_setting_rules(caller: Caller) -> None:
    if caller.role != Role.ADMIN:
        raise Forbidden("Only an admin sets the approval policy.")


def rules_read(caller: Caller, organisation: str | None) -> str:
    """Whose approval policy the caller reads: the one named (the admin only, or one's own), else
    the caller's own organisation's (the admin, of no organisation: the first organisation's)."""
    own = caller.organisation or FIRST
    if organisation is not None and organisation != own and caller.role != Role.ADMIN:
        raise Forbidden("Only an admin reads another organisation's approval policy.")
    return organisation or own


def rules_set(caller: Caller, organisation: str | None) -> str:
    """Whose approval policy an admin sets: the one named, else the first organisation's."""
    check_setting_rules(caller)
    return organisation or FIRST


def queue_organisation(caller: Caller) -> str:
    """The organisation whose requests the caller's queue is drawn from: their own."""
    _check_has_queue(caller)
    return organisation_or_first(caller.organisation)


def _check_has_queue(caller: Caller) -> None:
    if caller.role not in CASE_ROLES:
        raise Forbidden("Only caseworkers and supervisors have an approval queue.")
