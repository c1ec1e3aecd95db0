"""What a consumer reads off an arriving message before it trusts anything in it (shared/consumer.py
`_arrival`): an envelope's event_type becomes a metric label only when it is a known type; anything
else, whatever its JSON type, is "unknown", so the message is refused and set aside like any other
forgery instead of failing the consumer (an unhashable list or object raised TypeError before)."""
from types import SimpleNamespace

import pytest

from shared.consumer import EventConsumer


def arrival(envelope: dict):
    message = SimpleNamespace(body=b"{}", headers={}, content_type="application/json")
    return EventConsumer("CaseRegistered")._arrival(envelope, message)


@pytest.mark.parametrize("event_type", [["CaseRegistered"], {"a": 1}, 7, None, "NoSuchEvent"])
def test_an_event_type_that_is_not_a_known_name_is_unknown(event_type):
    assert arrival({"event_type": event_type}).event_type == "unknown"


def test_a_known_event_type_is_kept():
    assert arrival({"event_type": "CaseRegistered"}).event_type == "CaseRegistered"
