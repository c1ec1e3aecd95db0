"""What a client is shown: inbox items, webhooks and their deliveries, and what a webhook receives.
Ids, case numbers, usernames and words we chose: never survivor data."""
from datetime import datetime

from shared.times import iso, shown


def page(items: list[dict], next_cursor: str | None) -> dict:
    return {"items": items, "next_cursor": next_cursor}


def inbox_item(row: dict) -> dict:
    return {"id": str(row["notification_id"]), "type": row["kind"],
            "case_id": str(row["case_id"]) if row["case_id"] else None, "case_number": row["case_number"],
            "message": row["message"], "created_at": iso(row["created_at"]), "read": row["read"]}


def read_state(notification) -> dict:
    return {"id": str(notification.id), "read": notification.read}


def webhook(webhook) -> dict:
    """A webhook as registered: never its secret."""
    return {"id": str(webhook.id), "url": webhook.url, "events": webhook.events}


def listed_webhook(row: dict, url: str) -> dict:
    registered = row["registered_at"]
    return {"id": str(row["webhook_id"]), "url": url, "events": row["events"],
            "registered_at": iso(registered)}


def delivery(delivery_id, status: str, tries: list, body: dict) -> dict:
    """`tries` as PostgreSQL's json_agg wrote them, and `body` as it was sent (before issue 20 with an
    offset): each time shown in UTC with Z."""
    return {"id": str(delivery_id), "status": status, "attempts": [dict(t, at=iso(t["at"])) for t in tries],
            "body": dict(body, occurred_at=shown(body["occurred_at"])) if "occurred_at" in body else body}


def webhook_body(event_id, kind: str, case_id, case_number: str, message: str, occurred_at: datetime) -> dict:
    """What a webhook is sent about a notification (signed: webhooks.py)."""
    return {"event_id": str(event_id), "type": kind, "case_id": str(case_id), "case_number": case_number,
            "message": message, "occurred_at": iso(occurred_at)}

