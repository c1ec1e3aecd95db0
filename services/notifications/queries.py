"""The notifications service's read models and their SQL: each person's inbox and the webhook list
(kept by following the log), and the directory of cases and people (learnt from other services'
events) that says who is told what."""
import json

from services.notifications import policy, views, webhooks
from services.notifications.domain import Escalation, Notification, Webhook
from shared.caller import Caller
from shared.metrics import gauge
from shared.outbox import Projection
from shared.paging import Cursors, page

# The tables: services/notifications/migrations.


class InboxItems(Projection):
    """Each person's inbox, and the webhook list, from the service's own events."""

    name = "inbox_items"

    def apply(self, store, curs, event) -> None:
        if isinstance(event, Notification.NotificationSent):
            curs.execute(store.sql("INSERT INTO {schema}.inbox_items VALUES (%s, %s, %s, %s, %s, %s, %s, false)"),
                         (event.originator_id, event.recipient, event.kind, event.case_id, event.case_number,
                          event.message, event.timestamp))
        elif isinstance(event, Webhook.WebhookRegistered):
            curs.execute(store.sql("INSERT INTO {schema}.webhooks (webhook_id, events, url, registered_at)"
                                   " VALUES (%s, %s, %s, %s)"), (event.originator_id, event.events, event.url,
                                                                 event.timestamp))
        elif isinstance(event, Webhook.WebhookDeleted):
            curs.execute(store.sql("DELETE FROM {schema}.webhooks WHERE webhook_id = %s"), (event.originator_id,))
            webhooks.cancel_deliveries(store, event.originator_id, curs)
        elif isinstance(event, Notification.NotificationRead):
            curs.execute(store.sql("UPDATE {schema}.inbox_items SET read = true WHERE notification_id = %s"),
                         (event.originator_id,))


class Directory:
    """Who is who (domain.Directory): the cases and people other services told of, and the follow-ups
    flagged overdue that escalation watches. Lookups raise LookupError for what has not arrived yet."""

    def __init__(self, store):
        self.store = store

    # --- learnt from events: each in the transaction that records the event as processed ---------

    def add_case(self, curs, case_id, case_number: str, assigned_to: str, registered_at, version: int) -> None:
        # A plain INSERT: a second effect for the same event would fail loudly, not pass quietly.
        curs.execute(self.store.sql("INSERT INTO {schema}.case_directory (case_id, case_number, assigned_to,"
                                    " registered_at, assigned_version) VALUES (%s, %s, %s, %s, %s)"),
                     (case_id, case_number, assigned_to, registered_at, version))

    def add_person(self, curs, username: str, role: str, supervisor, provider_id, email, version: int = 1) -> None:
        curs.execute(self.store.sql("INSERT INTO {schema}.people (username, role, supervisor, provider_id, email,"
                                    " details_version) VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING"),
                     (username, role, supervisor, provider_id, email, version))

    def change_person(self, curs, username: str, role: str, supervisor, provider_id, email, version: int) -> None:
        """An admin changed the person (the whole of their details after the change)."""
        self._person(curs, username)
        curs.execute(self.store.sql("UPDATE {schema}.people SET role = %s, supervisor = %s, provider_id = %s,"
                                    " email = %s, details_version = %s WHERE username = %s AND details_version < %s"),
                     (role, supervisor, provider_id, email, version, username, version))

    def set_active(self, curs, username: str, active: bool, version: int) -> None:
        self._person(curs, username)
        curs.execute(self.store.sql("UPDATE {schema}.people SET active = %s, active_version = %s"
                                    " WHERE username = %s AND active_version < %s"), (active, version, username, version))

    def _person(self, curs, username: str) -> None:
        curs.execute(self.store.sql("SELECT 1 FROM {schema}.people WHERE username = %s FOR UPDATE"), (username,))
        if curs.fetchone() is None:
            raise LookupError("person not in the directory yet")  # UserRegistered on its way: retried

    def set_email_on(self, curs, username: str, on: bool) -> None:
        curs.execute(self.store.sql("UPDATE {schema}.people SET email_on = %s WHERE username = %s RETURNING username"),
                     (on, username))
        if curs.fetchone() is None:
            raise LookupError("person not in the directory yet")  # UserRegistered on its way: retried

    def record_progress(self, curs, case_id, event_type: str, moment, version: int) -> None:
        curs.execute(self.store.sql("SELECT 1 FROM {schema}.case_directory WHERE case_id = %s FOR UPDATE"),
                     (case_id,))
        if curs.fetchone() is None:
            raise LookupError("case not in the directory yet")  # CaseRegistered on its way: retried
        if event_type == "FollowUpRecorded":
            curs.execute(self.store.sql("UPDATE {schema}.case_directory SET last_follow_up_at ="
                                        " GREATEST(last_follow_up_at, %s) WHERE case_id = %s"), (moment, case_id))
        else:
            curs.execute(self.store.sql("UPDATE {schema}.case_directory SET closed = %s, closed_version = %s"
                                        " WHERE case_id = %s AND closed_version < %s"),
                         (event_type == "CaseClosed", version, case_id, version))

    def reassign(self, case_id, caseworker: str, version: int) -> None:
        with self.store.transaction() as curs:
            curs.execute(self.store.sql("UPDATE {schema}.case_directory SET assigned_to = %s, assigned_version = %s"
                                        " WHERE case_id = %s AND assigned_version < %s"),
                         (caseworker, version, case_id, version))

    def watch(self, case_id, due: str) -> None:
        with self.store.transaction() as curs:
            curs.execute(self.store.sql("INSERT INTO {schema}.overdue_watch (case_id, due) VALUES (%s, %s)"
                                        " ON CONFLICT DO NOTHING"), (case_id, due))

    def mark_escalated(self, curs, escalation: Escalation) -> None:
        curs.execute(self.store.sql("UPDATE {schema}.overdue_watch SET escalated = true WHERE case_id = %s"
                                    " AND due = %s"), (escalation.case_id, escalation.due))

    # --- lookups -----------------------------------------------------------------------------------

    def case(self, case_id) -> tuple[str, str]:
        row = self._one("SELECT case_number, assigned_to FROM {schema}.case_directory WHERE case_id = %s", case_id)
        if row is None:
            # CaseRegistered travels on another queue and has not arrived yet: retried later.
            raise LookupError("case not in the directory yet")
        return row["case_number"], row["assigned_to"]

    def supervisors_of(self, username: str) -> list[str]:
        row = self._one("SELECT supervisor FROM {schema}.people WHERE username = %s", username)
        if row is None:
            raise LookupError("requester not in the directory yet")  # UserRegistered still on its way: retried
        return [row["supervisor"]] if row["supervisor"] else []

    def focal_points(self, provider_id) -> list[str]:
        with self.store.datastore.transaction() as curs:
            curs.execute(self.store.sql("SELECT username FROM {schema}.people WHERE provider_id = %s AND active"),
                         (provider_id,))
            return [row["username"] for row in curs.fetchall()]

    def reachable_by_email(self, curs, recipients) -> list[dict]:
        """Those of `recipients` with an address who did not turn e-mail off."""
        curs.execute(self.store.sql("SELECT username, email FROM {schema}.people WHERE username = ANY(%s)"
                                    " AND email IS NOT NULL AND email_on AND active"), (list(recipients),))
        return curs.fetchall()

    def inactive_among(self, recipients) -> set[str]:
        """Those of `recipients` who no longer work here (deactivated): they are told nothing."""
        with self.store.datastore.transaction() as curs:
            curs.execute(self.store.sql("SELECT username FROM {schema}.people WHERE username = ANY(%s)"
                                        " AND NOT active"), (list(recipients),))
            return {row["username"] for row in curs.fetchall()}

    def overdue(self, before) -> list[Escalation]:
        """Follow-ups that fell due before `before`, not escalated, not done since, on open cases."""
        with self.store.datastore.transaction() as curs:
            curs.execute(self.store.sql(
                "SELECT w.case_id, w.due, d.case_number, d.assigned_to FROM {schema}.overdue_watch w"
                " JOIN {schema}.case_directory d USING (case_id) WHERE NOT w.escalated AND w.due < %s"
                " AND NOT d.closed AND (d.last_follow_up_at IS NULL OR d.last_follow_up_at < w.due)"
                " ORDER BY w.due LIMIT 200"), (before,))
            return [Escalation(**row) for row in curs.fetchall()]

    def _one(self, statement: str, *params):
        with self.store.datastore.transaction() as curs:
            curs.execute(self.store.sql(statement), params)
            return curs.fetchone()


class Reads:
    """What a client reads: their inbox; an admin, the webhooks and their deliveries."""

    def __init__(self, store):
        self.store = store

    def inbox(self, caller: Caller, query: dict) -> dict:
        """A page of the caller's inbox, newest first (created_at, then the id: a unique order)."""
        cursors, limit = Cursors(self.store.settings.cipher_key, "inbox"), query["limit"]
        where, params = ["recipient = %s"], [policy.whose_inbox(caller)]
        if query["unread"]:
            where.append("NOT read")
        if (after := cursors.read(query["cursor"], 2)) is not None:
            where.append("(created_at, notification_id) < (%s::timestamptz, %s::uuid)")
            params += list(after)
        with self.store.datastore.transaction() as curs:
            curs.execute(self.store.sql("SELECT * FROM {schema}.inbox_items WHERE " + " AND ".join(where) +
                                        " ORDER BY created_at DESC, notification_id DESC LIMIT %s"),
                         (*params, limit + 1))
            rows = curs.fetchall()
        return page([views.inbox_item(row) for row in rows[:limit]], rows, limit,
                    lambda row: cursors.make(row["created_at"].isoformat(), str(row["notification_id"])))

    def webhooks(self, caller: Caller, query: dict) -> dict:
        """Webhooks not deleted, in id order (unique), after the cursor's id."""
        policy.check_webhooks(caller, policy.LIST)
        cursors, limit = Cursors(self.store.settings.cipher_key, "webhooks"), query["limit"]
        after = cursors.read(query["cursor"], 1)
        condition, params = ("WHERE webhook_id > %s::uuid", [after[0]]) if after else ("", [])
        with self.store.datastore.transaction() as curs:
            curs.execute(self.store.sql("SELECT webhook_id, url, events, registered_at FROM {schema}.webhooks "
                                        + condition + " ORDER BY webhook_id LIMIT %s"), (*params, limit + 1))
            rows = curs.fetchall()
        items = [views.listed_webhook(row, row["url"] or self._url(row["webhook_id"])) for row in rows[:limit]]
        return page(items, rows, limit, lambda row: cursors.make(str(row["webhook_id"])))

    def _url(self, webhook_id) -> str:
        # Webhooks registered before the list kept URLs have none in the row: their aggregate has it.
        return self.store.get_one(webhook_id, Webhook, "No such webhook.").url

    def deliveries(self, caller: Caller, webhook_id, query: dict) -> dict:
        """A page of a webhook's deliveries, newest first (created_at, then the id)."""
        policy.check_webhooks(caller, policy.READ_DELIVERIES)
        self.store.get_one(webhook_id, Webhook, "No such webhook.")  # a deleted one's deliveries stay readable
        cursors, limit = Cursors(self.store.settings.cipher_key, f"deliveries:{webhook_id}"), query["limit"]
        where, params = ["d.webhook_id = %s"], [webhook_id]
        if (after := cursors.read(query["cursor"], 2)) is not None:
            where.append("(d.created_at, d.delivery_id) < (%s::timestamptz, %s::uuid)")
            params += list(after)
        with self.store.datastore.transaction() as curs:
            curs.execute(self.store.sql(
                "SELECT d.delivery_id, d.created_at, d.status, d.attempts, d.body,"
                " coalesce(json_agg(json_build_object('attempt', a.attempt, 'at', a.at,"
                " 'status_code', a.status_code, 'error', a.error) ORDER BY a.attempt)"
                " FILTER (WHERE a.attempt IS NOT NULL), '[]') AS tries"
                " FROM {schema}.deliveries d LEFT JOIN {schema}.delivery_attempts a USING (delivery_id)"
                " WHERE " + " AND ".join(where) +
                " GROUP BY d.delivery_id ORDER BY d.created_at DESC, d.delivery_id DESC LIMIT %s"),
                (*params, limit + 1))
            rows = curs.fetchall()
        items = [views.delivery(row["delivery_id"], row["status"], row["tries"], json.loads(row["body"]))
                 for row in rows[:limit]]
        return page(items, rows, limit,
                    lambda row: cursors.make(row["created_at"].isoformat(), str(row["delivery_id"])))


def gauges(store) -> list:
    """What /metrics shows of the service's own work: deliveries waiting, notifications unread."""
    with store.datastore.transaction() as curs:
        curs.execute(store.sql("SELECT 'webhook' AS channel, count(*) AS n FROM {schema}.deliveries"
                               " WHERE status = 'pending' UNION ALL SELECT 'email', count(*)"
                               " FROM {schema}.email_deliveries WHERE status = 'pending'"))
        pending = [(row["channel"], row["n"]) for row in curs.fetchall()]
        curs.execute(store.sql("SELECT count(*) AS n FROM {schema}.inbox_items WHERE NOT read"))
        unread = curs.fetchone()["n"]
    return [gauge("casetrail_deliveries_pending", "Webhook and e-mail deliveries not yet made", ["channel"], pending),
            gauge("casetrail_unread_notifications", "In-app notifications not yet read", [], [(unread,)])]

