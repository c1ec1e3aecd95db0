"""The case file: a survivor's case as an event-sourced aggregate. Pure: no I/O."""
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from shared.errors import Forbidden

STAGES = ("engagement", "assessment", "case_plan", "implementation", "follow_up", "closed")
CASE_ROLES = ("caseworker", "supervisor")
_REQUEST_NAMESPACE = uuid5(NAMESPACE_URL, "https://casetrail.example/case-requests")


class Case(Aggregate):
    id: UUID  # given by the application, so a retried registration lands on the same case

    class Event(Aggregate.Event):
        by: dict  # who did it: username, role, correlation id

    @event("CaseRegistered")
    def __init__(self, case_number: str, survivor: dict, risk_level: str, is_child: bool,
                 caregiver: dict | None, intake_notes: str | None, assigned_to: str,
                 request_hash: str, by: dict):
        self.case_number = case_number
        self.survivor = survivor
        self.risk_level = risk_level
        self.is_child = is_child
        self.caregiver = caregiver
        self.intake_notes = intake_notes
        self.assigned_to = assigned_to
        self.request_hash = request_hash
        self.stage = "engagement"

    @staticmethod
    def id_for_request(username: str, idempotency_key: str) -> UUID:
        """A retried registration (same user, same Idempotency-Key) lands on the same case."""
        return uuid5(_REQUEST_NAMESPACE, f"{username}\n{idempotency_key}")


PERMISSIONS = {
    "register_case": CASE_ROLES,
    "list_cases": CASE_ROLES,
}


def require(caller: dict, action: str) -> None:
    """Role check, before anything else is looked at."""
    if caller["role"] not in PERMISSIONS[action]:
        raise Forbidden(f"A {caller['role']} may not {action.replace('_', ' ')}.")


def scope(caller: dict) -> list[str] | None:
    """Whose cases the caller may see: their own, and a supervisor's team's. None: no case access."""
    if caller["role"] not in CASE_ROLES:
        return None
    if caller["role"] == "supervisor":
        return [caller["username"], *caller.get("team", [])]
    return [caller["username"]]


def in_scope(case: Case, caller: dict) -> bool:
    return case.assigned_to in (scope(caller) or [])
