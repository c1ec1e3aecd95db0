import uuid
from datetime import UTC, datetime

import pytest
from marshmallow import ValidationError

from shared.envelope import OWNERS, PAYLOADS, REFERRAL_EVENTS, event_id, events_of, make_envelope, read_envelope

BY = {"username": "cw1", "role": "caseworker", "correlation_id": "c-1"}
PAYLOAD = {"case_number": "GBV-2026-000001", "risk_level": "high", "is_child": False,
           "assigned_to": "cw1", "stage": "engagement"}


def envelope(**payload):
    return make_envelope(source="cases", event_type="CaseRegistered", aggregate_id=uuid.uuid4(),
                         aggregate_version=1, occurred_at=datetime.now(UTC), by=BY, payload=dict(PAYLOAD, **payload))


def test_an_envelope_round_trips():
    sent = envelope()
    received = read_envelope(sent)
    assert received["payload"] == PAYLOAD
    assert received["actor"] == {"username": "cw1", "role": "caseworker"}
    assert sent["correlation_id"] == "c-1" and sent["schema_version"] == 1


@pytest.mark.parametrize("field", ["survivor_name", "phone", "location", "notes", "date_of_birth"])
def test_a_payload_cannot_carry_a_field_it_does_not_declare(field):
    with pytest.raises(ValidationError):
        envelope(**{field: "anything"})


def test_an_event_type_without_a_payload_schema_cannot_be_published():
    with pytest.raises(KeyError):
        make_envelope(source="cases", event_type="SurvivorDetailsChanged", aggregate_id=uuid.uuid4(),
                      aggregate_version=2, occurred_at=datetime.now(UTC), by=BY, payload={})


def test_event_ids_are_stable_per_aggregate_version():
    aggregate = uuid.uuid4()
    assert event_id(aggregate, 3) == event_id(aggregate, 3)
    assert event_id(aggregate, 3) != event_id(aggregate, 4)
    assert event_id(aggregate, 3) != event_id(uuid.uuid4(), 3)


def test_a_malformed_envelope_is_refused():
    with pytest.raises(ValidationError):
        read_envelope({"event_type": "CaseRegistered", "payload": {}})


def test_every_event_type_has_exactly_one_owning_service():
    assert set(OWNERS) == set(PAYLOADS)
    assert set(OWNERS.values()) <= {"cases", "referrals", "approvals", "gateway"}
    assert events_of("approvals") == ("ApprovalRequested", "CasePlanApproved", "CasePlanRejected",
                                      "ClosureApproved", "ClosureRejected")
    assert events_of("notifications") == ()


@pytest.mark.parametrize("service, module", [("cases", "services.cases.views"),
                                             ("referrals", "services.referrals.views"),
                                             ("approvals", "services.approvals.views"),
                                             ("gateway", "services.gateway.application")])
def test_a_service_owns_the_types_its_publication_names(service, module):
    """Each owned type is named in the owner's publication code (or the constants it uses)."""
    import importlib
    import inspect
    application = importlib.import_module(module)
    named = inspect.getsource(application.public_event) + repr(vars(application).get("DECISION_EVENTS", ""))
    named += repr(REFERRAL_EVENTS) if service == "referrals" else ""
    assert all(f'"{t}"' in named or f"'{t}'" in named for t in events_of(service)), service
