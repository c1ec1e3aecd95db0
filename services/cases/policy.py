"""Who may read a case and act on it: the cases service's one access policy.

Every read and every command is decided here, from the caller (role, username, team), the action
and the case, always in the contract's order:

1. the caller's role may never do it → 403 (Forbidden), before the case is even looked up;
2. the case is outside the caller's scope → 404 (NotFound), whatever its state: nothing tells
   whether it exists, is closed or was erased;
3. in scope, but the case's state refuses the command → 409 (InvalidTransition), saying why.

A caseworker's scope is the cases assigned to them; a supervisor's, their own and their team's
caseworkers'; an auditor reads (never changes) any case of their organisation. Every case belongs to
the organisation of the caller who registered it (issue 19): to a caseworker, supervisor or auditor
of another organisation it is outside scope (404), whatever their names or team say; only the
installation's operator (the audit command line) reads across organisations. Feedback is collected by the case's team,
never by its own caseworker. What each state of a case accepts is the case's own rule
(`Case.refusal`); this module only asks it, after role and scope. Who sees identifying fields, and
whose cases a case list shows, are decided here too."""
from collections.abc import Callable
from typing import Protocol, TypeVar

from shared.caller import Caller
from shared.errors import Forbidden, InvalidTransition, NotFound
from shared.organisations import organisation_or_first
from shared.vocabulary import CASE_ROLES, Role

# "operator": the installation's operator identity, which only the audit command line on the
# cases service's host acts as (never a caller over RPC: the caller schema refuses the role).
READERS = (*CASE_ROLES, Role.AUDITOR, Role.OPERATOR)
# Who sees identifying fields as "[redacted]".
REDACTED_ROLES = (Role.AUDITOR, Role.OPERATOR)

# What reads a case file without changing it; an auditor may do these on any case.
READS = ("read", "as_of", "history", "verify", "export")
# What changes a case (or its consent, or makes a referral from it); each is a command the case's
# state may refuse.
COMMANDS = ("record_consent", "withdraw_consent", "assess", "draft_plan", "submit_plan", "record_follow_up",
            "hold_conference", "request_closure", "reopen", "reassign", "give_feedback", "erase", "refer")
# What another route asks of a case's scope (case_in_scope): "referrals" to list or withdraw them,
# "refer" to make one. Anything else asked is taken as the narrower "referrals".
SCOPE_CHECKS = ("referrals", "refer")

# 1. Which roles may ever do each action.
ROLES: dict[str, tuple[Role, ...]] = {
    "register_case": CASE_ROLES,
    "list_cases": CASE_ROLES,
    # An auditor lists no cases, but finds one of their organisation by its exact number
    # (GET /v1/cases?case_number=): a list item carries nothing identifying a survivor.
    "find_case": (Role.AUDITOR,),
    "list_changes": CASE_ROLES,  # what changed in the caller's scope (GET /v1/changes): the case list's reach
    "referrals": CASE_ROLES,  # a case's referrals: listed or withdrawn by those who hold the case
    **{action: READERS for action in READS},
    **{action: CASE_ROLES for action in COMMANDS},
    "reassign": (Role.SUPERVISOR,),
    "erase": (Role.SUPERVISOR,),
    # Free text about a case that another service keeps (referral notes, approval comments), sealed
    # or opened on someone's behalf: by those who hold the case, or a provider it was referred to.
    "texts": (*CASE_ROLES, Role.PROVIDER),
    # How many open cases a member of staff holds, and their numbers (nothing identifying): what an
    # admin must move before deactivating them or taking cases away from their role.
    "caseload": (Role.ADMIN,),
}

# 2. Which cases each role reaches, by the caller's relation to the case's caseworker:
# "own" (assigned to the caller), "team" (the caller's team), "other" (anyone else in the caller's
# organisation), "elsewhere" (a case of another organisation: only the operator reaches it).
REACH: dict[tuple[Role, str], Callable[[str], bool]] = {
    (Role.CASEWORKER, "own"): lambda action: True,
    (Role.CASEWORKER, "team"): lambda action: action == "give_feedback",  # a colleague collects feedback
    (Role.SUPERVISOR, "own"): lambda action: True,
    (Role.SUPERVISOR, "team"): lambda action: True,
    (Role.AUDITOR, "own"): lambda action: action in READS,
    (Role.AUDITOR, "team"): lambda action: action in READS,
    (Role.AUDITOR, "other"): lambda action: action in READS,
    **{(Role.OPERATOR, relation): lambda action: action in ("history", "verify", "export")
       for relation in ("own", "team", "other", "elsewhere")},
}


class Standing(Protocol):
    """What the policy needs of a case: who holds it, its organisation, and what its state refuses."""
    assigned_to: str
    organisation: str

    def refusal(self, action: str) -> str | None: ...


S = TypeVar("S", bound=Standing)


def permit(caller: Caller, action: str) -> None:
    """Step 1 alone, for what needs no case (registering, listing) and before parsing a request."""
    if caller.role not in ROLES[action]:
        raise Forbidden(f"The {caller.role} role may not {_words(action)}.")


def decide(caller: Caller, action: str, case: Callable[[], S]) -> S:
    """The whole decision. `case` loads the case (raising NotFound for an unknown id) and is called
    only once the role may act, so a refused role never learns whether an id exists."""
    found = reach(caller, action, case)
    relation = relation_to(caller, found.assigned_to, found.organisation)
    if action == "give_feedback" and relation == "own":
        raise Forbidden("Feedback is collected by someone other than the case's own caseworker.")
    if action in COMMANDS and (why := found.refusal(action)):
        raise InvalidTransition(why)
    return found


def reach(caller: Caller, action: str, case: Callable[[], S]) -> S:
    """Steps 1 and 2 alone: whether the caller may do `action` on the case as it is now, whatever its state
    says of the action. What a retry (Idempotency-Key) asks before it is shown the first answer: a case
    that left the caller's scope since is 404 to its replays too."""
    permit(caller, action)
    found = case()
    relation = relation_to(caller, found.assigned_to, found.organisation)
    if not REACH.get((caller.role, relation), lambda action: False)(action):
        raise NotFound("No such case.")
    return found


def scope_check(action: str) -> str:
    """The action another route's permission check asks about (see SCOPE_CHECKS)."""
    return action if action in SCOPE_CHECKS else "referrals"


def permit_texts(caller: Caller, case: Standing, referred_to_caller: bool) -> None:
    """Whether text about the case may be sealed or opened for the caller (NotFound if not): the
    caseworkers and supervisors it reaches, or a provider's focal point the case was referred to."""
    if caller.role == Role.PROVIDER:
        permit(caller, "texts")
        if not referred_to_caller:
            raise NotFound("No such case.")
        return
    decide(caller, "texts", lambda: case)


def vouched(referred: object, issuer: str | None) -> bool:
    """Whether another service's word that the caller is the provider each case was referred to is
    believed. The referrals service owns referrals: when it says so, that is what its ReferralMade
    event would say, signed with the same key, before that event has reached this service. No other
    service's word counts (`issuer`: the service whose signature on the call was verified)."""
    return referred is True and issuer == "referrals"


def relation_to(caller: Caller, caseworker: str, organisation: str) -> str:
    """own | team | other | elsewhere: the caller's relation to the caseworker who holds a case of
    `organisation`. A case of another organisation is "elsewhere" whatever the names say (the
    operator aside, who reaches every case)."""
    if caller.role != Role.OPERATOR and organisation_in(caller) != organisation:
        return "elsewhere"
    if caseworker == caller.username:
        return "own"
    return "team" if caseworker in team_of(caller) else "other"


def team_of(caller: Caller) -> list[str]:
    """The people of the caller's team, the caller aside: a supervisor's caseworkers; a caseworker's
    supervisor and fellow caseworkers."""
    if caller.role == Role.SUPERVISOR:
        return list(caller.team)
    if caller.role == Role.CASEWORKER and caller.supervisor:
        return [caller.supervisor, *caller.teammates]
    return []


def redacted_for(caller: Caller) -> bool:
    return caller.role in REDACTED_ROLES


def permit_case_list(caller: Caller, filters: object) -> None:
    """Step 1 for GET /v1/cases, asked before its filters are parsed (`filters` as sent): a caseworker
    or supervisor lists their scope's cases; an auditor only finds a case by its `case_number`."""
    if caller.role in ROLES["find_case"]:
        if not (isinstance(filters, dict) and "case_number" in filters):
            raise Forbidden("An auditor lists no cases; find one by its number: GET /v1/cases?case_number=<number>.")
        permit(caller, "find_case")
        return
    permit(caller, "list_cases")


def case_list_reach(caller: Caller, filters: dict) -> tuple[str, list[str] | None]:
    """The organisation whose cases GET /v1/cases shows (the caller's own), and whose cases of it:
    the caller's scope, or None for anyone's (an auditor finding a case by its number)."""
    permit_case_list(caller, filters)
    if caller.role in ROLES["find_case"]:
        return organisation_in(caller), None
    return organisation_seen(caller), caseworkers_seen(caller)


def caseworkers_seen(caller: Caller, listing: str = "list_cases") -> list[str]:
    """Whose cases the caller's case list (or changes feed: `listing` "list_changes") shows (the
    list's own form of REACH for "read"), always together with `organisation_seen`."""
    permit(caller, listing)
    return list(caller.scope)


def organisation_seen(caller: Caller, listing: str = "list_cases") -> str:
    """The one organisation whose cases the caller's case list (or changes feed) shows: their own."""
    permit(caller, listing)
    return organisation_in(caller)


def organisation_of(caller: Caller) -> str:
    """The organisation a case the caller registers belongs to: the caller's own."""
    permit(caller, "register_case")
    return organisation_in(caller)


def organisation_in(caller: Caller) -> str:
    """The organisation the caller works in. The gateway names every user's but the admin's; a
    caller that names none (a user's identity as sent before organisations) is, like an event that
    names none, the first organisation's."""
    return organisation_or_first(caller.organisation)


def _words(action: str) -> str:
    return {"read": "read case files", "as_of": "read case files", "history": "read case histories",
            "verify": "verify case histories", "export": "export case histories", "referrals": "see a case's referrals",
            "refer": "make referrals"}.get(action, action.replace("_", " "))
