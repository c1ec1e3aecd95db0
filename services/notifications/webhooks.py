"""Webhook deliveries: signed, retried with exponential backoff, given up after a bounded number
of tries, every attempt recorded. Delivery runs apart from event consumption, so an endpoint that
is down delays its own deliveries and nothing else."""
import hashlib
import hmac
import json
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from uuid import NAMESPACE_URL, uuid5

from shared.settings import env

TABLES = (
    "CREATE TABLE IF NOT EXISTS {schema}.webhooks (webhook_id uuid PRIMARY KEY, events text[] NOT NULL)",
    "CREATE TABLE IF NOT EXISTS {schema}.deliveries (delivery_id uuid PRIMARY KEY, webhook_id uuid NOT NULL,"
    " body text NOT NULL, status text NOT NULL DEFAULT 'pending', attempts integer NOT NULL DEFAULT 0,"
    " next_attempt_at timestamptz NOT NULL DEFAULT now(), created_at timestamptz NOT NULL DEFAULT now())",
    "CREATE INDEX IF NOT EXISTS deliveries_due ON {schema}.deliveries (next_attempt_at) WHERE status = 'pending'",
    "CREATE TABLE IF NOT EXISTS {schema}.delivery_attempts (delivery_id uuid NOT NULL, attempt integer NOT NULL,"
    " at timestamptz NOT NULL, status_code integer, error text, PRIMARY KEY (delivery_id, attempt))",
)
_DELIVERY = uuid5(NAMESPACE_URL, "https://casetrail.example/webhook-deliveries")
MAX_ATTEMPTS = int(env("WEBHOOK_MAX_ATTEMPTS", "8"))
FIRST_DELAY = float(env("WEBHOOK_RETRY_DELAY", "5"))
TIMEOUT = float(env("WEBHOOK_TIMEOUT_SECONDS", "5"))


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def queue_deliveries(store, curs, event_id, kind: str, body: dict) -> None:
    """One delivery per (event, webhook) that asked for this kind; a redelivered event adds none."""
    curs.execute(store.sql("SELECT webhook_id FROM {schema}.webhooks WHERE %s = ANY(events)"), (kind,))
    for row in curs.fetchall():
        curs.execute(store.sql("INSERT INTO {schema}.deliveries (delivery_id, webhook_id, body) VALUES (%s, %s, %s)"
                               " ON CONFLICT DO NOTHING"),
                     (uuid5(_DELIVERY, f"{event_id}:{row['webhook_id']}"), row["webhook_id"], json.dumps(body)))


def deliver_due(store) -> int:
    """Makes one attempt at each delivery that is due; returns how many it tried. A delivery is
    claimed with a lease first, so no transaction stays open while an endpoint answers slowly."""
    with store.transaction() as curs:
        curs.execute(store.sql("SELECT delivery_id, webhook_id, body, attempts FROM {schema}.deliveries"
                               " WHERE status = 'pending' AND next_attempt_at <= now()"
                               " ORDER BY next_attempt_at LIMIT 20 FOR UPDATE SKIP LOCKED"))
        due = curs.fetchall()
        curs.execute(store.sql("UPDATE {schema}.deliveries SET next_attempt_at = now() + %s * interval '1 second'"
                               " WHERE delivery_id = ANY(%s)"), (TIMEOUT * 3, [d["delivery_id"] for d in due]))
    for delivery in due:
        webhook = store.repository.get(delivery["webhook_id"])
        status_code, error = _post(webhook.url, webhook.secret, delivery["body"].encode(), delivery["delivery_id"])
        _record(store, delivery, status_code, error)
    return len(due)


def _record(store, delivery: dict, status_code: int | None, error: str | None) -> None:
    attempt = delivery["attempts"] + 1
    if status_code is not None and 200 <= status_code < 300:
        status, next_at = "delivered", datetime.now(UTC)
    else:
        status = "failed" if attempt >= MAX_ATTEMPTS else "pending"
        next_at = datetime.now(UTC) + timedelta(seconds=FIRST_DELAY * 2 ** (attempt - 1))
    with store.transaction() as curs:
        curs.execute(store.sql("INSERT INTO {schema}.delivery_attempts VALUES (%s, %s, %s, %s, %s)"),
                     (delivery["delivery_id"], attempt, datetime.now(UTC), status_code, error))
        curs.execute(store.sql("UPDATE {schema}.deliveries SET status = %s, attempts = %s, next_attempt_at = %s"
                               " WHERE delivery_id = %s"), (status, attempt, next_at, delivery["delivery_id"]))


def _post(url: str, secret: str, body: bytes, delivery_id) -> tuple[int | None, str | None]:
    request = urllib.request.Request(url, data=body, method="POST", headers={
        "Content-Type": "application/json", "X-Signature": signature(secret, body),
        "X-Delivery-Id": str(delivery_id), "User-Agent": "Casetrail"})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
            return response.status, None
    except urllib.error.HTTPError as error:
        return error.code, None
    except (urllib.error.URLError, OSError) as error:
        return None, type(error).__name__


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
