import pytest

from services.notifications.domain import TYPES, message_for

FACTS = {
    "approval_requested": {"case_id": "c", "case_number": "GBV-2026-000001", "type": "case_plan",
                           "submission": 4, "requested_by": "cw1"},
    "approval_decided": {"case_id": "c", "case_number": "GBV-2026-000001", "type": "closure", "submission": 4,
                         "requested_by": "cw1", "decided_by": "sup1", "outcome": "rejected"},
    "follow_up_overdue": {"due": "2026-11-20T09:30:00+00:00"},
    "referral_received": {"referral_id": "r", "case_id": "c", "provider_id": "p", "service_type": "legal",
                          "status": "requested"},
    "referral_updated": {"referral_id": "r", "case_id": "c", "provider_id": "p", "service_type": "legal",
                         "status": "declined"},
    "case_reassigned": {"previous": "cw1", "assigned_to": "cw2"},
}


@pytest.mark.parametrize("kind", TYPES)
def test_every_message_names_the_case_number_and_reads_well(kind):
    message = message_for(kind, "GBV-2026-000001", FACTS[kind])
    assert message.startswith("GBV-2026-000001: ") and message.endswith(".")
    assert "None" not in message and "{" not in message
