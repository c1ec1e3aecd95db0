"""E-mail deliveries over SMTP, on the delivery queue (deliveries.py): queued with the notification,
sent by a timer apart from event consumption, retried with backoff while the SMTP server is away,
every attempt recorded."""
import smtplib
from datetime import UTC, datetime
from email.message import EmailMessage
from uuid import NAMESPACE_URL, uuid5

from services.notifications.deliveries import Queue, retry_at, status_after
from shared.settings import env

QUEUE = Queue("email_deliveries", uuid5(NAMESPACE_URL, "https://casetrail.example/email-deliveries"), done="sent")
SMTP_HOST = env("SMTP_HOST", "")
SMTP_PORT = int(env("SMTP_PORT", "25"))
SMTP_FROM = env("SMTP_FROM", "casetrail@localhost")
MAX_ATTEMPTS = int(env("EMAIL_MAX_ATTEMPTS", "10"))
FIRST_DELAY = float(env("EMAIL_RETRY_DELAY", "10"))
LEASE_SECONDS = 60


def enabled() -> bool:
    return bool(SMTP_HOST)


def queue_email(store, curs, event_id, recipient: str, address: str, case_number: str, message: str) -> None:
    """Once per (event, recipient): a redelivered event queues nothing new."""
    QUEUE.add(store, curs, event_id, recipient, recipient=recipient, address=address,
              subject=f"Casetrail: {case_number}",
              body=f"{message}\n\nOpen Casetrail to act on it. This message names no one on purpose.\n")


def send_due(store) -> int:
    due = QUEUE.claim(store, limit=20, lease_seconds=LEASE_SECONDS)
    for delivery in due:
        error = _send(delivery)
        attempt = delivery["attempts"] + 1
        status = status_after(attempt, error is None, False, MAX_ATTEMPTS, QUEUE.done)
        QUEUE.record(store, delivery, attempt, datetime.now(UTC), status,
                     retry_at(datetime.now(UTC), FIRST_DELAY, attempt), None, error)
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
