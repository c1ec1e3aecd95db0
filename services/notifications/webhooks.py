"""Webhook deliveries, on the delivery queue (deliveries.py): signed, retried with exponential backoff,
given up after a bounded number of tries, every attempt recorded. Delivery runs apart from event
consumption, and each webhook's deliveries in a green thread of their own, so an endpoint that is
down (refusing, or holding a request until the timeout) delays its own deliveries and nothing else.
Each attempt checks the URL again (destinations.py) and connects only to the addresses it checked;
redirects are never followed."""
import hashlib
import hmac
import json
import logging
import ssl
from datetime import UTC, datetime
from http.client import HTTPException
from uuid import NAMESPACE_URL, uuid5

import eventlet

from services.notifications.deliveries import Queue, retry_at, status_after
from services.notifications.destinations import Refused, Unresolved, checked_target, connection_to
from services.notifications.settings import WebhookSettings

QUEUE = Queue("deliveries", uuid5(NAMESPACE_URL, "https://casetrail.example/webhook-deliveries"), done="delivered")
log = logging.getLogger(__name__)
# Webhooks whose deliveries a green thread of this process is making: one at a time per endpoint.
_UNDER_WAY: set = set()


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def queue_deliveries(store, curs, event_id, kind: str, body: dict) -> None:
    """One delivery per (event, webhook) that asked for this kind; a redelivered event adds none."""
    # The key-share lock makes a deletion wait for these deliveries, so it then cancels them too.
    curs.execute(store.sql("SELECT webhook_id FROM {schema}.webhooks WHERE %s = ANY(events) FOR KEY SHARE"), (kind,))
    for row in curs.fetchall():
        QUEUE.add(store, curs, event_id, row["webhook_id"], webhook_id=row["webhook_id"], body=json.dumps(body))


def deliver_due(store, settings: WebhookSettings) -> int:
    """Starts a green thread for each webhook with a delivery due and none under way here; returns
    how many it started. The timer never waits on an endpoint, so a slow one holds only its own."""
    with store.transaction() as curs:
        curs.execute(store.sql("SELECT DISTINCT webhook_id FROM {schema}.deliveries"
                               " WHERE status = 'pending' AND next_attempt_at <= now()"
                               " AND webhook_id IN (SELECT webhook_id FROM {schema}.webhooks)"))
        started = {row["webhook_id"] for row in curs.fetchall()} - _UNDER_WAY
    for webhook_id in started:
        _UNDER_WAY.add(webhook_id)
        eventlet.spawn_n(_deliver_to, store, webhook_id, settings)
    return len(started)


def _deliver_to(store, webhook_id, settings: WebhookSettings) -> None:
    """One attempt at each of the webhook's due deliveries, one after another, until none is due."""
    try:
        while (delivery := _claim(store, webhook_id, settings.timeout)) is not None:
            webhook = store.repository.get(webhook_id)
            if webhook.deleted:  # deleted after this delivery was claimed, or before the read model knew
                cancel_deliveries(store, webhook_id)
                return
            _record(store, delivery, *_attempt(webhook, delivery, settings), settings)
    except Exception as error:  # the lease runs out and the delivery is claimed again
        log.warning("webhook %s: a delivery could not be made (%s)", webhook_id, type(error).__name__)
    finally:
        _UNDER_WAY.discard(webhook_id)


def _claim(store, webhook_id, timeout: float) -> dict | None:
    """The webhook's next due delivery, leased first (for three times a request's `timeout`), so no
    transaction stays open while an endpoint answers slowly and no other instance tries it meanwhile."""
    due = QUEUE.claim(store, limit=1, lease_seconds=timeout * 3, where=" AND webhook_id = %s", params=(webhook_id,))
    return due[0] if due else None


def cancel_deliveries(store, webhook_id, curs=None) -> None:
    """A deleted webhook gets nothing more: its deliveries not yet made are cancelled."""
    if curs is not None:
        QUEUE.cancel(store, curs, "webhook_id = %s", (webhook_id,))
        return
    with store.transaction() as own:
        QUEUE.cancel(store, own, "webhook_id = %s", (webhook_id,))


def _attempt(webhook, delivery: dict, settings: WebhookSettings) -> tuple[int | None, str | None, bool]:
    """(status code, error, final): a URL refused now is not tried again."""
    try:
        target = checked_target(webhook.url, settings.allowed_hosts, resolve_timeout=settings.resolve_timeout)
    except Refused as why:
        return None, f"refused: {why}", True
    except Unresolved as why:
        return None, str(why), False
    status_code, error = _post(target, webhook.secret, delivery["body"].encode(), delivery["delivery_id"],
                               settings.timeout)
    return status_code, error, False


def _record(store, delivery: dict, status_code: int | None, error: str | None, final: bool,
            settings: WebhookSettings) -> None:
    attempt = delivery["attempts"] + 1
    delivered = status_code is not None and 200 <= status_code < 300
    status = status_after(attempt, delivered, final, settings.max_attempts, QUEUE.done)
    next_at = datetime.now(UTC) if delivered else retry_at(datetime.now(UTC), settings.first_delay, attempt)
    QUEUE.record(store, delivery, attempt, datetime.now(UTC), status, next_at, status_code, error)


def _post(target, secret: str, body: bytes, delivery_id, timeout: float) -> tuple[int | None, str | None]:
    """One POST, waited on for `timeout` seconds; any answer, a 3xx too, is just its status code:
    nothing is followed."""
    connection = connection_to(target, timeout)
    try:
        connection.request("POST", target.path, body=body, headers={
            "Content-Type": "application/json", "X-Signature": signature(secret, body),
            "X-Delivery-Id": str(delivery_id), "User-Agent": "Casetrail"})
        return connection.getresponse().status, None
    except (OSError, HTTPException, ssl.SSLError, ValueError) as error:
        return None, type(error).__name__  # never the message: it could echo the URL
    finally:
        connection.close()
