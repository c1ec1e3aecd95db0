"""E-mail deliveries over SMTP, on the delivery queue (deliveries.py): queued with the notification,
sent by a timer apart from event consumption, retried with backoff while the SMTP server is away,
every attempt recorded."""
import smtplib
from datetime import UTC, datetime
from email.message import EmailMessage
from uuid import NAMESPACE_URL, uuid5

from services.notifications.deliveries import Queue, retry_at, status_after
from services.notifications.settings import MailSettings

QUEUE = Queue("email_deliveries", uuid5(NAMESPACE_URL, "https://casetrail.example/email-deliveries"), done="sent")
LEASE_SECONDS = 60


def queue_email(store, curs, event_id, recipient: str, address: str, case_number: str, message: str) -> None:
    """Once per (event, recipient): a redelivered event queues nothing new."""
    QUEUE.add(store, curs, event_id, recipient, recipient=recipient, address=address,
              subject=f"Casetrail: {case_number}",
              body=f"{message}\n\nOpen Casetrail to act on it. This message names no one on purpose.\n")


def send_due(store, settings: MailSettings) -> int:
    due = QUEUE.claim(store, limit=20, lease_seconds=LEASE_SECONDS)
    for delivery in due:
        error = _send(delivery, settings)
        attempt = delivery["attempts"] + 1
        status = status_after(attempt, error is None, False, settings.max_attempts, QUEUE.done)
        QUEUE.record(store, delivery, attempt, datetime.now(UTC), status,
                     retry_at(datetime.now(UTC), settings.first_delay, attempt), None, error)
    return len(due)


def _send(delivery: dict, settings: MailSettings) -> str | None:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = settings.sender, delivery["address"], delivery["subject"]
    message["Message-ID"] = f"<{delivery['delivery_id']}@casetrail>"
    message.set_content(delivery["body"])
    try:
        with smtplib.SMTP(settings.host, settings.port, timeout=10) as smtp:
            smtp.send_message(message)
        return None
    except (smtplib.SMTPException, OSError) as error:
        return type(error).__name__
