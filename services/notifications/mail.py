"""E-mail deliveries over SMTP: queued with the notification, sent by a timer apart from event
consumption, retried with backoff while the SMTP server is away, every attempt recorded."""
import smtplib
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from uuid import NAMESPACE_URL, uuid5

from shared.settings import env

TABLES = (
    "CREATE TABLE IF NOT EXISTS {schema}.email_deliveries (delivery_id uuid PRIMARY KEY, recipient text NOT NULL,"
    " address text NOT NULL, subject text NOT NULL, body text NOT NULL, status text NOT NULL DEFAULT 'pending',"
    " attempts integer NOT NULL DEFAULT 0, next_attempt_at timestamptz NOT NULL DEFAULT now())",
    "CREATE INDEX IF NOT EXISTS email_deliveries_due ON {schema}.email_deliveries (next_attempt_at)"
    " WHERE status = 'pending'",
)
_DELIVERY = uuid5(NAMESPACE_URL, "https://casetrail.example/email-deliveries")
SMTP_HOST = env("SMTP_HOST", "")
SMTP_PORT = int(env("SMTP_PORT", "25"))
SMTP_FROM = env("SMTP_FROM", "casetrail@localhost")
MAX_ATTEMPTS = int(env("EMAIL_MAX_ATTEMPTS", "10"))
FIRST_DELAY = float(env("EMAIL_RETRY_DELAY", "10"))


def enabled() -> bool:
    return bool(SMTP_HOST)


def queue_email(store, curs, event_id, recipient: str, address: str, case_number: str, message: str) -> None:
    """Once per (event, recipient): a redelivered event queues nothing new."""
    curs.execute(store.sql("INSERT INTO {schema}.email_deliveries (delivery_id, recipient, address, subject, body)"
                           " VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING"),
                 (uuid5(_DELIVERY, f"{event_id}:{recipient}"), recipient, address, f"Casetrail: {case_number}",
                  f"{message}\n\nOpen Casetrail to act on it. This message names no one on purpose.\n"))


def send_due(store) -> int:
    with store.transaction() as curs:
        curs.execute(store.sql("SELECT * FROM {schema}.email_deliveries WHERE status = 'pending'"
                               " AND next_attempt_at <= now() ORDER BY next_attempt_at LIMIT 20 FOR UPDATE SKIP LOCKED"))
        due = curs.fetchall()
        curs.execute(store.sql("UPDATE {schema}.email_deliveries SET next_attempt_at = now() + interval '60 seconds'"
                               " WHERE delivery_id = ANY(%s)"), ([d["delivery_id"] for d in due],))
    for delivery in due:
        error = _send(delivery)
        attempt = delivery["attempts"] + 1
        status = "sent" if error is None else ("failed" if attempt >= MAX_ATTEMPTS else "pending")
        next_at = datetime.now(UTC) + timedelta(seconds=FIRST_DELAY * 2 ** (attempt - 1))
        with store.transaction() as curs:
            curs.execute(store.sql("INSERT INTO {schema}.delivery_attempts VALUES (%s, %s, %s, %s, %s)"),
                         (delivery["delivery_id"], attempt, datetime.now(UTC), None, error))
            curs.execute(store.sql("UPDATE {schema}.email_deliveries SET status = %s, attempts = %s,"
                                   " next_attempt_at = %s WHERE delivery_id = %s"),
                         (status, attempt, next_at, delivery["delivery_id"]))
    return len(due)


def _send(delivery: dict) -> str | None:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = SMTP_FROM, delivery["address"], delivery["subject"]
    message["Message-ID"] = f"<{delivery['delivery_id']}@casetrail>"
    message.set_content(delivery["body"])
    try:
        with smtplib.SMTP(SMTP_HOST, SMTP_PORT, timeout=10) as smtp:
            smtp.send_message(message)
        return None
    except (smtplib.SMTPException, OSError) as error:
        return type(error).__name__
