"""README, settings: retry delays grow and are bounded. A bus consumer's own failures are retried after
CONSUMER_RETRY_DELAY, doubling, at most 300 s, CONSUMER_MAX_ATTEMPTS times; an outage every 30 s at
most, for ever. Webhook and e-mail deliveries wait WEBHOOK_RETRY_DELAY / EMAIL_RETRY_DELAY, doubling,
and are given up after WEBHOOK_MAX_ATTEMPTS / EMAIL_MAX_ATTEMPTS. Computed here without a broker, a
database or a network: the code that decides each delay records it instead."""
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import psycopg
import pytest

from services.notifications import mail, webhooks
from services.notifications.destinations import AllowList
from services.notifications.settings import MailSettings, WebhookSettings
from shared.consumer import ATTEMPTS_HEADER, WAITS_HEADER, EventConsumer

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


class HandlerFailed(RuntimeError):
    """A failure of the event's own (not an outage)."""


def consumer(max_attempts: int, first_delay: float) -> EventConsumer:
    """A consumer whose sends to the retry queue and quarantine are recorded, not made."""
    handler = EventConsumer("CaseRegistered")
    handler.max_attempts, handler.first_delay = max_attempts, first_delay
    handler.retry_queue = SimpleNamespace(name="casetrail.tests.handler.retry")
    handler.sent = []
    handler._send = lambda body, queue, content_type, headers, delay=None: handler.sent.append(
        {"queue": queue, "headers": headers, "delay": delay})
    handler._set_aside = lambda message, attempts, exc: handler.sent.append({"quarantined": attempts})
    return handler


def fail(handler: EventConsumer, error: BaseException, headers: dict) -> tuple[str, dict]:
    message = SimpleNamespace(headers=headers, body=b"{}", content_type="application/json")
    outcome = handler._after_failure(message, (type(error), error, None))
    return outcome, handler.sent[-1]


def test_a_consumer_retries_its_own_failures_after_doubling_delays_capped_at_300_seconds():
    handler = consumer(max_attempts=20, first_delay=0.5)
    delays = []
    for failed_before in range(19):
        outcome, sent = fail(handler, HandlerFailed("boom"), {ATTEMPTS_HEADER: failed_before})
        assert outcome == "retried" and sent["queue"] == handler.retry_queue.name
        assert sent["headers"][ATTEMPTS_HEADER] == failed_before + 1
        delays.append(sent["delay"])
    assert delays[:10] == [0.5 * 2 ** n for n in range(10)]  # 0.5 s, 1 s, 2 s ... 256 s
    assert delays[10:] == [300.0] * 9


def test_a_consumer_sets_an_event_aside_after_its_maximum_attempts():
    handler = consumer(max_attempts=8, first_delay=0.5)
    assert fail(handler, HandlerFailed("boom"), {ATTEMPTS_HEADER: 6})[0] == "retried"
    assert fail(handler, HandlerFailed("boom"), {ATTEMPTS_HEADER: 7}) == ("quarantined", {"quarantined": 8})


@pytest.mark.parametrize("outage", [psycopg.OperationalError("server closed the connection"),
                                    ConnectionRefusedError("broker")])
def test_a_consumer_waits_out_an_outage_every_30_seconds_at_most_for_ever(outage):
    handler = consumer(max_attempts=8, first_delay=0.5)
    delays = []
    for waited_before in range(200):
        outcome, sent = fail(handler, outage, {WAITS_HEADER: waited_before, ATTEMPTS_HEADER: 3})
        assert outcome == "waited"
        assert sent["headers"][ATTEMPTS_HEADER] == 3  # an outage is never counted as an attempt
        delays.append(sent["delay"])
    assert delays[:6] == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0]
    assert set(delays[6:]) == {30.0}


class Statements:
    """A store that records each statement and its parameters instead of running it."""

    def __init__(self, due: list[dict] = ()):
        self.executed, self.due = [], list(due)

    def sql(self, statement: str) -> str:
        return statement

    @contextmanager
    def transaction(self):
        yield self

    def execute(self, statement: str, params=()) -> None:
        self.executed.append((statement, params))

    def fetchall(self) -> list[dict]:
        return self.due

    def updates(self, table: str) -> list[tuple]:
        """The (status, attempts, next attempt at, id) each delivery was left with."""
        return [params for statement, params in self.executed
                if statement.startswith(f"UPDATE {{schema}}.{table} SET status")]


class Frozen(datetime):
    @classmethod
    def now(cls, tz=None):
        return NOW


@pytest.fixture
def frozen_clock(monkeypatch):
    monkeypatch.setattr(webhooks, "datetime", Frozen)
    monkeypatch.setattr(mail, "datetime", Frozen)


def webhook_settings(max_attempts: int, first_delay: float) -> WebhookSettings:
    return WebhookSettings(max_attempts=max_attempts, first_delay=first_delay, timeout=5.0,
                           allowed_hosts=AllowList(), resolve_timeout=3.0)


def test_a_failed_webhook_delivery_waits_twice_as_long_each_time_and_is_given_up_after_its_maximum(frozen_clock):
    settings, store = webhook_settings(max_attempts=8, first_delay=5.0), Statements()
    for attempts_before in range(8):
        webhooks._record(store, {"delivery_id": attempts_before, "attempts": attempts_before}, 503, None, False,
                         settings)
    left = store.updates("deliveries")
    assert [status for status, *_ in left] == ["pending"] * 7 + ["failed"]
    assert [attempt for _, attempt, _, _ in left] == list(range(1, 9))
    assert [next_at - NOW for _, _, next_at, _ in left[:7]] == [timedelta(seconds=5 * 2 ** n) for n in range(7)]


def test_a_webhook_delivery_refused_at_delivery_time_or_delivered_is_not_tried_again(frozen_clock):
    settings, store = webhook_settings(max_attempts=8, first_delay=5.0), Statements()
    webhooks._record(store, {"delivery_id": "refused", "attempts": 0}, None, "refused: private address", True,
                     settings)
    webhooks._record(store, {"delivery_id": "delivered", "attempts": 2}, 204, None, False, settings)
    assert [(status, attempt, delivery) for status, attempt, _, delivery in store.updates("deliveries")] == [
        ("failed", 1, "refused"), ("delivered", 3, "delivered")]


def test_an_email_waits_twice_as_long_each_time_the_server_is_away_and_is_given_up_after_its_maximum(
        monkeypatch, frozen_clock):
    settings = MailSettings(host="smtp.test", port=25, sender="casetrail@localhost", max_attempts=10, first_delay=10.0)
    monkeypatch.setattr(mail, "_send", lambda delivery, settings: "ConnectionRefusedError")
    store = Statements(due=[{"delivery_id": n, "attempts": n} for n in range(10)])
    assert mail.send_due(store, settings) == 10
    left = store.updates("email_deliveries")
    assert [status for status, *_ in left] == ["pending"] * 9 + ["failed"]
    assert [next_at - NOW for _, _, next_at, _ in left[:9]] == [timedelta(seconds=10 * 2 ** n) for n in range(9)]
