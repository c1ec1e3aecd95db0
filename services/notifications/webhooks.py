"""Webhook deliveries: signed, retried with exponential backoff, given up after a bounded number
of tries, every attempt recorded. Delivery runs apart from event consumption, and each webhook's
deliveries in a green thread of their own, so an endpoint that is down (refusing, or holding a
request until the timeout) delays its own deliveries and nothing else. Each attempt checks the URL
again (destinations.py) and connects only to the addresses it checked; redirects are never followed."""
import hashlib
import hmac
import json
import logging
import ssl
from datetime import UTC, datetime, timedelta
from http.client import HTTPException
from uuid import NAMESPACE_URL, uuid5

import eventlet

from services.notifications.destinations import Refused, Unresolved, allowed_hosts, checked_target, connection_to
from shared.settings import env

TABLES = (
    "CREATE TABLE IF NOT EXISTS {schema}.webhooks (webhook_id uuid PRIMARY KEY, events text[] NOT NULL)",
    "CREATE TABLE IF NOT EXISTS {schema}.deliveries (delivery_id uuid PRIMARY KEY, webhook_id uuid NOT NULL,"
    " body text NOT NULL, status text NOT NULL DEFAULT 'pending', attempts integer NOT NULL DEFAULT 0,"
    " next_attempt_at timestamptz NOT NULL DEFAULT now(), created_at timestamptz NOT NULL DEFAULT now())",
    "CREATE INDEX IF NOT EXISTS deliveries_due ON {schema}.deliveries (next_attempt_at) WHERE status = 'pending'",
    "CREATE TABLE IF NOT EXISTS {schema}.delivery_attempts (delivery_id uuid NOT NULL, attempt integer NOT NULL,"
    " at timestamptz NOT NULL, status_code integer, error text, PRIMARY KEY (delivery_id, attempt))",
    # What the webhook list shows; a deleted webhook's row is removed.
    "ALTER TABLE {schema}.webhooks ADD COLUMN IF NOT EXISTS url text",
    "ALTER TABLE {schema}.webhooks ADD COLUMN IF NOT EXISTS registered_at timestamptz",
)
_DELIVERY = uuid5(NAMESPACE_URL, "https://casetrail.example/webhook-deliveries")
MAX_ATTEMPTS = int(env("WEBHOOK_MAX_ATTEMPTS", "8"))
FIRST_DELAY = float(env("WEBHOOK_RETRY_DELAY", "5"))
TIMEOUT = float(env("WEBHOOK_TIMEOUT_SECONDS", "5"))
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
        curs.execute(store.sql("INSERT INTO {schema}.deliveries (delivery_id, webhook_id, body) VALUES (%s, %s, %s)"
                               " ON CONFLICT DO NOTHING"),
                     (uuid5(_DELIVERY, f"{event_id}:{row['webhook_id']}"), row["webhook_id"], json.dumps(body)))


def deliver_due(store) -> int:
    """Starts a green thread for each webhook with a delivery due and none under way here; returns
    how many it started. The timer never waits on an endpoint, so a slow one holds only its own."""
    with store.transaction() as curs:
        curs.execute(store.sql("SELECT DISTINCT webhook_id FROM {schema}.deliveries"
                               " WHERE status = 'pending' AND next_attempt_at <= now()"
                               " AND webhook_id IN (SELECT webhook_id FROM {schema}.webhooks)"))
        started = {row["webhook_id"] for row in curs.fetchall()} - _UNDER_WAY
    for webhook_id in started:
        _UNDER_WAY.add(webhook_id)
        eventlet.spawn_n(_deliver_to, store, webhook_id)
    return len(started)


def _deliver_to(store, webhook_id) -> None:
    """One attempt at each of the webhook's due deliveries, one after another, until none is due."""
    try:
        while (delivery := _claim(store, webhook_id)) is not None:
            webhook = store.repository.get(webhook_id)
            if webhook.deleted:  # deleted after this delivery was claimed, or before the read model knew
                cancel_deliveries(store, webhook_id)
                return
            _record(store, delivery, *_attempt(webhook, delivery))
    except Exception as error:  # the lease runs out and the delivery is claimed again
        log.warning("webhook %s: a delivery could not be made (%s)", webhook_id, type(error).__name__)
    finally:
        _UNDER_WAY.discard(webhook_id)


def _claim(store, webhook_id) -> dict | None:
    """The webhook's next due delivery, leased first, so no transaction stays open while an endpoint
    answers slowly and no other instance tries it meanwhile."""
    with store.transaction() as curs:
        curs.execute(store.sql("SELECT delivery_id, webhook_id, body, attempts FROM {schema}.deliveries"
                               " WHERE webhook_id = %s AND status = 'pending' AND next_attempt_at <= now()"
                               " ORDER BY next_attempt_at LIMIT 1 FOR UPDATE SKIP LOCKED"), (webhook_id,))
        delivery = curs.fetchone()
        if delivery is not None:
            curs.execute(store.sql("UPDATE {schema}.deliveries SET next_attempt_at = now() + %s * interval"
                                   " '1 second' WHERE delivery_id = %s"), (TIMEOUT * 3, delivery["delivery_id"]))
    return delivery


def cancel_deliveries(store, webhook_id, curs=None) -> None:
    """A deleted webhook gets nothing more: its deliveries not yet made are cancelled."""
    statement = store.sql("UPDATE {schema}.deliveries SET status = 'cancelled' WHERE webhook_id = %s"
                          " AND status = 'pending'")
    if curs is not None:
        curs.execute(statement, (webhook_id,))
        return
    with store.transaction() as own:
        own.execute(statement, (webhook_id,))


def _attempt(webhook, delivery: dict) -> tuple[int | None, str | None, bool]:
    """(status code, error, final): a URL refused now is not tried again."""
    try:
        target = checked_target(webhook.url, allowed_hosts())
    except Refused as why:
        return None, f"refused: {why}", True
    except Unresolved as why:
        return None, str(why), False
    status_code, error = _post(target, webhook.secret, delivery["body"].encode(), delivery["delivery_id"])
    return status_code, error, False


def _record(store, delivery: dict, status_code: int | None, error: str | None, final: bool) -> None:
    attempt = delivery["attempts"] + 1
    if status_code is not None and 200 <= status_code < 300:
        status, next_at = "delivered", datetime.now(UTC)
    else:
        status = "failed" if final or attempt >= MAX_ATTEMPTS else "pending"
        next_at = datetime.now(UTC) + timedelta(seconds=FIRST_DELAY * 2 ** (attempt - 1))
    with store.transaction() as curs:
        curs.execute(store.sql("INSERT INTO {schema}.delivery_attempts VALUES (%s, %s, %s, %s, %s)"),
                     (delivery["delivery_id"], attempt, datetime.now(UTC), status_code, error))
        curs.execute(store.sql("UPDATE {schema}.deliveries SET status = %s, attempts = %s, next_attempt_at = %s"
                               " WHERE delivery_id = %s"), (status, attempt, next_at, delivery["delivery_id"]))


def _post(target, secret: str, body: bytes, delivery_id) -> tuple[int | None, str | None]:
    """One POST; any answer, a 3xx too, is just its status code: nothing is followed."""
    connection = connection_to(target, TIMEOUT)
    try:
        connection.request("POST", target.path, body=body, headers={
            "Content-Type": "application/json", "X-Signature": signature(secret, body),
            "X-Delivery-Id": str(delivery_id), "User-Agent": "Casetrail"})
        return connection.getresponse().status, None
    except (OSError, HTTPException, ssl.SSLError, ValueError) as error:
        return None, type(error).__name__  # never the message: it could echo the URL
    finally:
        connection.close()


def deliveries_of(store, webhook_id) -> list[dict]:
    with store.datastore.transaction() as curs:
        curs.execute(store.sql("SELECT d.delivery_id, d.status, d.attempts, d.body,"
                               " coalesce(json_agg(json_build_object('attempt', a.attempt, 'at', a.at,"
                               " 'status_code', a.status_code, 'error', a.error) ORDER BY a.attempt)"
                               " FILTER (WHERE a.attempt IS NOT NULL), '[]') AS tries"
                               " FROM {schema}.deliveries d LEFT JOIN {schema}.delivery_attempts a USING (delivery_id)"
                               " WHERE d.webhook_id = %s GROUP BY d.delivery_id ORDER BY d.created_at DESC LIMIT 200"),
                     (webhook_id,))
        return [{"id": str(r["delivery_id"]), "status": r["status"], "attempts": r["tries"],
                 "body": json.loads(r["body"])} for r in curs.fetchall()]


def listed(store, after=None, limit: int = 200) -> tuple[list[dict], bool]:
    """Webhooks not deleted, in id order, after the cursor's id; and whether more follow."""
    condition, params = ("WHERE webhook_id > %s", [after]) if after else ("", [])
    with store.datastore.transaction() as curs:
        curs.execute(store.sql("SELECT webhook_id, url, events, registered_at FROM {schema}.webhooks " + condition +
                               " ORDER BY webhook_id LIMIT %s"), (*params, limit + 1))
        rows = curs.fetchall()
    return rows[:limit], len(rows) > limit
