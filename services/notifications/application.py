"""The notifications service's store: who is who (from the gateway's and the cases service's
events), and each person's in-app notifications."""
from datetime import UTC, datetime, timedelta
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.persistence import IntegrityError

from services.notifications import destinations, mail, webhooks
from services.notifications.domain import Notification, Webhook, message_for
from shared.caller import recorded_by
from shared.errors import Forbidden, InvalidInput, NotFound
from shared.metrics import gauge
from shared.outbox import Projection
from shared.store import ServiceStore

SYSTEM = {"username": "system", "role": "system", "correlation_id": None}
ESCALATE_AFTER = timedelta(hours=24)
ESCALATION = uuid5(NAMESPACE_URL, "https://casetrail.example/escalations")
CASE_PROGRESS = ("FollowUpRecorded", "CaseClosed", "CaseReopened")
DECIDED = {"CasePlanApproved": "approved", "CasePlanRejected": "rejected",
           "ClosureApproved": "approved", "ClosureRejected": "rejected"}
NOTIFIED = ("ApprovalRequested", *DECIDED, "FollowUpOverdue", "ReferralMade", "ReferralAccepted",
            "ReferralDeclined", "ReferralCompleted", "ReferralWithdrawn", "CaseReassigned")


class Inbox(Projection):
    name = "inbox_items"
    TABLES = (
        "CREATE TABLE IF NOT EXISTS {schema}.inbox_items (notification_id uuid PRIMARY KEY, recipient text NOT NULL,"
        " kind text NOT NULL, case_id uuid, case_number text NOT NULL, message text NOT NULL,"
        " created_at timestamptz NOT NULL, read boolean NOT NULL DEFAULT false)",
        "CREATE INDEX IF NOT EXISTS inbox_items_recipient ON {schema}.inbox_items (recipient, created_at DESC)",
    )

    def apply(self, store, curs, event) -> None:
        kind = type(event).__name__
        if kind == "NotificationSent":
            curs.execute(store.sql("INSERT INTO {schema}.inbox_items VALUES (%s, %s, %s, %s, %s, %s, %s, false)"),
                         (event.originator_id, event.recipient, event.kind, event.case_id, event.case_number,
                          event.message, event.timestamp))
        elif kind == "WebhookRegistered":
            curs.execute(store.sql("INSERT INTO {schema}.webhooks (webhook_id, events, url, registered_at)"
                                   " VALUES (%s, %s, %s, %s)"), (event.originator_id, event.events, event.url,
                                                                 event.timestamp))
        elif kind == "WebhookDeleted":
            curs.execute(store.sql("DELETE FROM {schema}.webhooks WHERE webhook_id = %s"), (event.originator_id,))
            webhooks.cancel_deliveries(store, event.originator_id, curs)
        elif kind == "NotificationRead":
            curs.execute(store.sql("UPDATE {schema}.inbox_items SET read = true WHERE notification_id = %s"),
                         (event.originator_id,))


class NotificationsStore(ServiceStore):
    name = "notifications"
    tables = Inbox.TABLES + webhooks.TABLES + mail.TABLES + (
        "CREATE TABLE IF NOT EXISTS {schema}.case_directory ("
        " case_id uuid PRIMARY KEY, case_number text NOT NULL, assigned_to text NOT NULL,"
        " registered_at timestamptz NOT NULL)",
        "CREATE TABLE IF NOT EXISTS {schema}.people (username text PRIMARY KEY, role text NOT NULL,"
        " supervisor text, provider_id uuid)",
        "ALTER TABLE {schema}.people ADD COLUMN IF NOT EXISTS email text",
        "ALTER TABLE {schema}.people ADD COLUMN IF NOT EXISTS email_on boolean NOT NULL DEFAULT true",
        # What escalation needs to know of a case: its last follow-up and whether it is closed.
        "ALTER TABLE {schema}.case_directory ADD COLUMN IF NOT EXISTS last_follow_up_at timestamptz",
        "ALTER TABLE {schema}.case_directory ADD COLUMN IF NOT EXISTS closed boolean NOT NULL DEFAULT false",
        "CREATE TABLE IF NOT EXISTS {schema}.overdue_watch (case_id uuid NOT NULL, due timestamptz NOT NULL,"
        " escalated boolean NOT NULL DEFAULT false, PRIMARY KEY (case_id, due))",
        "CREATE INDEX IF NOT EXISTS overdue_watch_open ON {schema}.overdue_watch (due) WHERE NOT escalated",
        # The case versions the assignee and the open/closed state come from: events that arrive late
        # (another queue, another instance) never undo newer ones.
        "ALTER TABLE {schema}.case_directory ADD COLUMN IF NOT EXISTS assigned_version integer NOT NULL DEFAULT 0",
        "ALTER TABLE {schema}.case_directory ADD COLUMN IF NOT EXISTS closed_version integer NOT NULL DEFAULT 0",
    )

    def domain_gauges(self) -> list:
        with self.datastore.transaction() as curs:
            curs.execute(self.sql("SELECT 'webhook' AS channel, count(*) AS n FROM {schema}.deliveries"
                                  " WHERE status = 'pending' UNION ALL SELECT 'email', count(*)"
                                  " FROM {schema}.email_deliveries WHERE status = 'pending'"))
            pending = [(row["channel"], row["n"]) for row in curs.fetchall()]
            curs.execute(self.sql("SELECT count(*) AS n FROM {schema}.inbox_items WHERE NOT read"))
            unread = curs.fetchone()["n"]
        return [gauge("casetrail_deliveries_pending", "Webhook and e-mail deliveries not yet made", ["channel"], pending),
                gauge("casetrail_unread_notifications", "In-app notifications not yet read", [], [(unread,)])]

    # --- who is who -------------------------------------------------------------------

    def case_registered(self, envelope: dict) -> bool:
        """Adds the case to the directory once, however often the event arrives."""
        payload = envelope["payload"]

        def add(curs):
            # A plain INSERT: a second effect for the same event would fail loudly, not pass quietly.
            curs.execute(self.sql("INSERT INTO {schema}.case_directory (case_id, case_number, assigned_to,"
                                  " registered_at, assigned_version) VALUES (%s, %s, %s, %s, %s)"),
                         (envelope["aggregate_id"], payload["case_number"], payload["assigned_to"],
                          envelope["occurred_at"], envelope["aggregate_version"]))

        return self.process_once("case_directory", envelope["event_id"], add)

    def user_registered(self, envelope: dict) -> bool:
        payload = envelope["payload"]

        def add(curs):
            curs.execute(self.sql("INSERT INTO {schema}.people (username, role, supervisor, provider_id, email)"
                                  " VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING"),
                         (payload["username"], payload["role"], payload["supervisor"], payload["provider_id"],
                          payload["email"]))
        return self.process_once("people", envelope["event_id"], add)

    def preferences_changed(self, envelope: dict) -> bool:
        payload = envelope["payload"]

        def change(curs):
            curs.execute(self.sql("UPDATE {schema}.people SET email_on = %s WHERE username = %s RETURNING username"),
                         (payload["email_notifications"], payload["username"]))
            if curs.fetchone() is None:
                raise LookupError("person not in the directory yet")  # UserRegistered on its way: retried
        return self.process_once("preferences", envelope["event_id"], change)

    # --- notifying --------------------------------------------------------------------

    def send_notifications(self, envelope: dict) -> bool:
        """Sends each recipient their notification of this event, exactly once."""
        consumer, event_id = "notify", envelope["event_id"]
        if self.processed(consumer, event_id):
            return False
        kind, recipients, case_id, case_number, facts = self._what_and_whom(envelope)
        by = {**envelope["actor"], "correlation_id": envelope["correlation_id"]}
        message = message_for(kind, case_number, facts)
        notifications = [Notification(id=Notification.id_for(event_id, recipient, "inbox"), recipient=recipient,
                                      kind=kind, case_id=case_id, case_number=case_number, message=message,
                                      channel="inbox", by=by)
                         for recipient in sorted(set(recipients))]
        if envelope["event_type"] == "CaseReassigned":
            self._reassign(case_id, facts["assigned_to"], envelope["aggregate_version"])  # idempotent
        if envelope["event_type"] == "FollowUpOverdue":
            self._watch(case_id, facts["due"])  # idempotent too
        with self.transaction() as curs:  # idempotent too: one delivery per (event, webhook) and (event, recipient)
            for person in self._reachable_by_email(curs, recipients):
                mail.queue_email(self, curs, event_id, person["username"], person["email"], case_number, message)
            webhooks.queue_deliveries(self, curs, event_id, kind, {
                "event_id": str(event_id), "type": kind, "case_id": str(case_id), "case_number": case_number,
                "message": message, "occurred_at": envelope["occurred_at"].isoformat()})
        return self.save_once(consumer, event_id, *notifications)

    def _what_and_whom(self, envelope: dict):
        event_type, payload = envelope["event_type"], envelope["payload"]
        if event_type == "ApprovalRequested":
            return ("approval_requested", self._supervisors_of(payload["requested_by"]), payload["case_id"],
                    payload["case_number"], payload)
        if event_type in DECIDED:
            return ("approval_decided", [payload["requested_by"]], payload["case_id"], payload["case_number"],
                    {**payload, "outcome": DECIDED[event_type]})
        case_id = payload.get("case_id") or envelope["aggregate_id"]
        case_number, assigned_to = self._case(case_id)
        if event_type == "FollowUpOverdue":
            return "follow_up_overdue", [assigned_to], case_id, case_number, payload
        if event_type == "ReferralMade":
            return "referral_received", self._focal_points(payload["provider_id"]), case_id, case_number, payload
        if event_type == "ReferralWithdrawn":  # the provider must stop working on it
            return ("referral_updated", [assigned_to, *self._focal_points(payload["provider_id"])], case_id,
                    case_number, payload)
        if event_type.startswith("Referral"):
            return "referral_updated", [assigned_to], case_id, case_number, payload
        return ("case_reassigned", [payload["previous"], payload["assigned_to"]], case_id, case_number, payload)

    def _reachable_by_email(self, curs, recipients) -> list[dict]:
        if not mail.enabled() or not recipients:
            return []
        curs.execute(self.sql("SELECT username, email FROM {schema}.people WHERE username = ANY(%s)"
                              " AND email IS NOT NULL AND email_on"), (list(recipients),))
        return curs.fetchall()

    def _case(self, case_id) -> tuple[str, str]:
        with self.datastore.transaction() as curs:
            curs.execute(self.sql("SELECT case_number, assigned_to FROM {schema}.case_directory WHERE case_id = %s"),
                         (case_id,))
            row = curs.fetchone()
        if row is None:
            # CaseRegistered travels on another queue and has not arrived yet: retried later.
            raise LookupError("case not in the directory yet")
        return row["case_number"], row["assigned_to"]

    def _supervisors_of(self, username: str) -> list[str]:
        with self.datastore.transaction() as curs:
            curs.execute(self.sql("SELECT supervisor FROM {schema}.people WHERE username = %s"), (username,))
            row = curs.fetchone()
        if row is None:
            raise LookupError("requester not in the directory yet")  # UserRegistered still on its way: retried
        return [row["supervisor"]] if row["supervisor"] else []

    def _focal_points(self, provider_id) -> list[str]:
        with self.datastore.transaction() as curs:
            curs.execute(self.sql("SELECT username FROM {schema}.people WHERE provider_id = %s"), (provider_id,))
            return [row["username"] for row in curs.fetchall()]

    def _reassign(self, case_id, caseworker: str, version: int) -> None:
        with self.transaction() as curs:
            curs.execute(self.sql("UPDATE {schema}.case_directory SET assigned_to = %s, assigned_version = %s"
                                  " WHERE case_id = %s AND assigned_version < %s"), (caseworker, version, case_id, version))

    def case_progressed(self, envelope: dict) -> bool:
        """A follow-up recorded, or the case closed or reopened: what escalation looks at."""
        event_type, moment = envelope["event_type"], envelope["occurred_at"]

        case_id, version = envelope["aggregate_id"], envelope["aggregate_version"]

        def record(curs):
            curs.execute(self.sql("SELECT 1 FROM {schema}.case_directory WHERE case_id = %s FOR UPDATE"), (case_id,))
            if curs.fetchone() is None:
                raise LookupError("case not in the directory yet")  # CaseRegistered on its way: retried
            if event_type == "FollowUpRecorded":
                curs.execute(self.sql("UPDATE {schema}.case_directory SET last_follow_up_at ="
                                      " GREATEST(last_follow_up_at, %s) WHERE case_id = %s"), (moment, case_id))
            else:
                curs.execute(self.sql("UPDATE {schema}.case_directory SET closed = %s, closed_version = %s"
                                      " WHERE case_id = %s AND closed_version < %s"),
                             (event_type == "CaseClosed", version, case_id, version))
        return self.process_once("case_progress", envelope["event_id"], record)

    def escalate_overdue(self) -> int:
        """Tells the supervisor, once, of a follow-up overdue by more than 24 hours and still not done."""
        with self.datastore.transaction() as curs:
            curs.execute(self.sql(
                "SELECT w.case_id, w.due, d.case_number, d.assigned_to FROM {schema}.overdue_watch w"
                " JOIN {schema}.case_directory d USING (case_id) WHERE NOT w.escalated AND w.due < %s"
                " AND NOT d.closed AND (d.last_follow_up_at IS NULL OR d.last_follow_up_at < w.due)"
                " ORDER BY w.due LIMIT 200"), (self.clock() - ESCALATE_AFTER,))
            overdue = curs.fetchall()
        for row in overdue:
            self._escalate(row)
        return len(overdue)

    def _escalate(self, row: dict) -> None:
        due = row["due"].astimezone(UTC).isoformat()
        message = (f"{row['case_number']}: a follow-up due {due[:16].replace('T', ' ')} UTC is overdue by more "
                   f"than 24 hours. Check in with {row['assigned_to']}.")
        escalation = uuid5(ESCALATION, f"{row['case_id']}:{due}")
        supervisors = self._supervisors_of(row["assigned_to"])
        notifications = [Notification(id=Notification.id_for(escalation, supervisor, "inbox"),
                                      recipient=supervisor, kind="follow_up_overdue", case_id=row["case_id"],
                                      case_number=row["case_number"], message=message, channel="inbox", by=SYSTEM)
                         for supervisor in supervisors]
        try:
            self.save(*notifications)
        except IntegrityError:
            pass  # sent before a crash kept the watch from being marked: not again
        with self.transaction() as curs:
            for person in self._reachable_by_email(curs, supervisors):
                mail.queue_email(self, curs, escalation, person["username"], person["email"], row["case_number"],
                                 message)
            curs.execute(self.sql("UPDATE {schema}.overdue_watch SET escalated = true WHERE case_id = %s AND due = %s"),
                         (row["case_id"], row["due"]))

    def _watch(self, case_id, due: str) -> None:
        with self.transaction() as curs:
            curs.execute(self.sql("INSERT INTO {schema}.overdue_watch (case_id, due) VALUES (%s, %s)"
                                  " ON CONFLICT DO NOTHING"), (case_id, due))

    def register_webhook(self, caller: dict, data: dict, idempotency_key: str | None = None) -> Webhook:
        if caller["role"] != "admin":
            raise Forbidden("Only an admin registers webhooks.")
        self.check_webhook_url(data["url"])
        return self.create_once(Webhook, caller, idempotency_key, data, lambda webhook_id, request_hash: Webhook(
            id=webhook_id, request_hash=request_hash, by=recorded_by(caller), **data))

    def check_webhook_url(self, url: str) -> None:
        """A URL that would reach inside is refused (422 on `url`); so is a name that does not resolve
        now, since what it resolves to cannot be checked."""
        try:
            destinations.checked_target(url, destinations.allowed_hosts())
        except (destinations.Refused, destinations.Unresolved) as why:
            raise InvalidInput({"url": [str(why)]}) from None

    def webhook_deliveries(self, caller: dict, webhook_id: UUID) -> list[dict]:
        if caller["role"] != "admin":
            raise Forbidden("Only an admin reads webhook deliveries.")
        self.get_one(webhook_id, Webhook, "No such webhook.")  # a deleted one's deliveries stay readable
        return webhooks.deliveries_of(self, webhook_id)

    def webhook_list(self, caller: dict, after: UUID | None, limit: int) -> dict:
        if caller["role"] != "admin":
            raise Forbidden("Only an admin lists webhooks.")
        rows, more = webhooks.listed(self, after, limit)
        items = [self._webhook_view(row) for row in rows]
        return {"items": items, "next_cursor": items[-1]["id"] if more else None}

    def _webhook_view(self, row: dict) -> dict:
        # Webhooks registered before the list kept URLs have none in the row: their aggregate has it.
        url = row["url"] or self.get_one(row["webhook_id"], Webhook, "No such webhook.").url
        registered = row["registered_at"]
        return {"id": str(row["webhook_id"]), "url": url, "events": row["events"],
                "registered_at": registered.astimezone(UTC).isoformat().replace("+00:00", "Z") if registered else None}

    def delete_webhook(self, caller: dict, webhook_id: UUID) -> None:
        if caller["role"] != "admin":
            raise Forbidden("Only an admin deletes webhooks.")
        webhook = self._live_webhook(webhook_id)
        webhook.delete(by=recorded_by(caller))
        try:
            self.save(webhook)
        except IntegrityError:
            self._live_webhook(webhook_id)  # deleted meanwhile by another admin: 404
            raise

    def _live_webhook(self, webhook_id: UUID) -> Webhook:
        webhook = self.get_one(webhook_id, Webhook, "No such webhook.")
        if webhook.deleted:
            raise NotFound("No such webhook.")
        return webhook

    def clock(self) -> datetime:
        return datetime.now(UTC)

    # --- the inbox --------------------------------------------------------------------

    def inbox(self, caller: dict, unread_only: bool) -> dict:
        condition = " AND NOT read" if unread_only else ""
        with self.datastore.transaction() as curs:
            curs.execute(self.sql("SELECT * FROM {schema}.inbox_items WHERE recipient = %s" + condition +
                                  " ORDER BY created_at DESC LIMIT 200"), (caller["username"],))
            rows = curs.fetchall()
        return {"items": [{"id": str(r["notification_id"]), "type": r["kind"],
                           "case_id": str(r["case_id"]) if r["case_id"] else None, "case_number": r["case_number"],
                           "message": r["message"], "created_at": r["created_at"].isoformat(), "read": r["read"]}
                          for r in rows], "next_cursor": None}

    def mark_read(self, caller: dict, notification_id: UUID) -> Notification:
        notification = self.get_one(notification_id, Notification, "No such notification.")
        if notification.recipient != caller["username"]:
            raise NotFound("No such notification.")
        notification.mark_read(by={"username": caller["username"], "role": caller["role"],
                                   "correlation_id": caller.get("correlation_id")})
        self.save(notification)
        return notification

