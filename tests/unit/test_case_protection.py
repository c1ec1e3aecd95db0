"""Every free-text field a case keeps is in protection.py's one list: sealed, redacted, erased.

Walks every marshmallow schema of services/cases/schemas.py (nested ones too): a `Text` field, or a
`Line` that is not an enumeration, a username or an id (a name, a relationship, a phone number, a
place, a feedback question), must be covered by the identifying paths of the event that keeps it.
Then fills every such field of a case in memory and checks the auditor's view and history hold none."""
import json
from datetime import timedelta

from marshmallow import Schema, fields, validate

from services.cases import schemas
from services.cases.domain import Case, Consent
from services.cases.protection import CASE_FILE, IDENTIFYING, redacted
from services.cases.views import case_view
from shared.store import request_id
from shared.text import Line, Text
from tests.unit.test_case_rules import CW, NOW, SUP

# Which event keeps each input schema's fields, and under which prefix.
KEPT_BY = {
    "RegisterCaseSchema": ("CaseRegistered", ""),
    "ConsentSchema": ("ConsentRecorded", "terms."),
    "AssessmentSchema": ("AssessmentRecorded", ""),
    "PlanSchema": ("CasePlanDrafted", ""),
    "FollowUpSchema": ("FollowUpRecorded", ""),
    "ConferenceSchema": ("CaseConferenceHeld", ""),
    "ClosureSchema": ("ClosureRequested", ""),
    "ReasonSchema": ("CaseReopened", ""),
    "FeedbackSchema": ("ClientFeedbackRecorded", ""),
    "EraseSchema": ("CaseErased", ""),
}
# Schemas whose fields no case event keeps, and why.
NOT_KEPT = {
    "ListCasesSchema": "query of the case list",
    "ChangesQuerySchema": "query of the changes feed: a cursor and a page size",
    "ReassignSchema": "a username",
    "CommandOptionsSchema": "request headers",
    "AsOfSchema": "a time",
    "HistoryQuerySchema": "paging",
    "TextsSchema": "other services' texts, sealed whole with the case key by seal_texts",
    "SealedTextsSchema": "already sealed texts, to open",
    "SurvivorSchema": "nested in RegisterCaseSchema", "CaregiverSchema": "nested in RegisterCaseSchema",
    "GoalSchema": "nested in PlanSchema",
}
# A single line that is not free text: usernames, ids, cursors, keys.
NOT_FREE = {"caseworker", "assigned_to", "cursor", "idempotency_key"}


def free_text_paths(schema: Schema, prefix: str = "") -> list[str]:
    paths = []
    for name, field in schema.fields.items():
        paths += _paths_of(field, prefix + name, name)
    return paths


def _paths_of(field, path: str, name: str) -> list[str]:
    if isinstance(field, fields.Nested):
        return free_text_paths(field.schema, path + ".")
    if isinstance(field, fields.List):
        return _paths_of(field.inner, path + ".*", name)
    if isinstance(field, fields.Dict):
        keys_free = field.key_field is not None and _is_free(field.key_field, name)
        if keys_free:
            return [path]  # keys are free text: the whole dict must be one identifying value
        return _paths_of(field.value_field, path + ".*", name) if field.value_field else []
    return [path] if _is_free(field, name) else []


def _is_free(field, name: str) -> bool:
    if isinstance(field, Text):
        return True
    enumeration = any(isinstance(v, validate.OneOf) for v in field.validators)
    return isinstance(field, Line) and not enumeration and name not in NOT_FREE


def covered(path: str, identifying: tuple[str, ...]) -> bool:
    """A path is covered by itself or by a path naming a value that holds it whole."""
    return any(path == p or path.startswith(p + ".") for p in identifying)


def input_schemas() -> dict[str, type[Schema]]:
    return {name: kind for name, kind in vars(schemas).items()
            if isinstance(kind, type) and issubclass(kind, Schema) and kind.__module__ == schemas.__name__}


def test_every_schema_is_accounted_for():
    assert set(input_schemas()) == set(KEPT_BY) | set(NOT_KEPT)


def test_every_free_text_field_of_every_schema_is_identifying():
    missing = []
    for name, (event, prefix) in KEPT_BY.items():
        for path in free_text_paths(input_schemas()[name]()):
            if not covered(prefix + path, IDENTIFYING[event]):
                missing.append(f"{name}.{path} (kept by {event} as {prefix}{path})")
    assert not missing, f"free text not in protection.py's list: {missing}"


def test_the_walk_finds_the_fields_the_contract_names():
    found = {name: free_text_paths(input_schemas()[name]()) for name in KEPT_BY}
    assert {"caregiver.name", "caregiver.relationship", "caregiver.phone", "unaccompanied_reason"} <= set(
        found["RegisterCaseSchema"])
    assert {"goals.*.responsible", "goals.*.consulted.*", "child_participation"} <= set(found["PlanSchema"])
    assert found["FeedbackSchema"] == ["answers"] and found["EraseSchema"] == ["reason"]
    assert {"participants.*", "decisions", "next_steps"} == set(found["ConferenceSchema"])
    assert found["ConsentSchema"] == ["best_interests_note"]


SECRET = "SECRET"


def test_no_free_text_survives_the_auditors_view_or_history():
    case_id = request_id(Case, "cw1", "protection")
    case = Case(id=case_id, case_number="GBV-2026-000009", risk_level="low", is_child=True,
                survivor={"name": SECRET, "phone": SECRET, "location": SECRET, "sex": "female"},
                caregiver={"name": SECRET, "relationship": SECRET, "phone": SECRET}, intake_notes=SECRET,
                assigned_to="cw1", request_hash="h", by=CW, unaccompanied=True, unaccompanied_reason=SECRET,
                registered_at=(NOW - timedelta(days=9)).isoformat())
    consent = Consent(id=Consent.id_for(case_id), case_id=case_id, by=CW,
                      terms={"services": True, "given_by": "caregiver", "child_assent": False,
                             "best_interests_note": SECRET})
    case.assess(["medical"], SECRET, SECRET, None, consent=consent, by=CW)
    case.draft_plan([{"need": "medical", "action": SECRET, "responsible": SECRET, "consulted": [SECRET],
                      "due_date": "2026-12-01"}], SECRET, by=CW)
    case.submit_plan(by=CW, consent=consent)
    case.decide_plan(case.plan["submission"], True, "sup1", by=SUP, now=NOW)
    case.record_follow_up(True, NOW, True, None, SECRET, by=CW, now=NOW,
                          monitoring={"raise_risk_to": "high", "raise_reason": SECRET})
    case.hold_conference("2026-11-20", [SECRET], SECRET, SECRET, by=CW)
    case.request_closure("needs_met", SECRET, by=CW, now=NOW)
    case.decide_closure(case.closure["submission"], True, "sup1", by=SUP)
    case.give_feedback({SECRET: SECRET}, by=SUP)
    case.reopen(SECRET, by=CW, now=NOW)
    case.erase(SECRET, by=SUP, now=NOW)

    view = case_view(case, consent, now=NOW, redact=True)
    assert SECRET not in json.dumps(view), view
    for event in case.collect_events() + consent.collect_events():
        data = redacted(dict(vars(event)), IDENTIFYING.get(type(event).__name__, ()))
        assert SECRET not in json.dumps(data, default=str), (type(event).__name__, data)
    assert all(not path.startswith("state.") for path in CASE_FILE)
