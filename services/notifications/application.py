"""The notifications service's use cases: learn who is who from other services' events, tell each
person what they need to know (in-app, by e-mail, to webhooks) exactly once, escalate follow-ups left
overdue, mark a notification read, and let an admin register and delete webhooks. Each gets what it
needs, decides (domain.py, policy.py) and saves; the SQL is in queries.py, the delivery queue in
deliveries.py."""
from dataclasses import replace
from datetime import UTC, datetime
from uuid import UUID

from eventsourcing.persistence import IntegrityError

from services.notifications import mail, policy, queries, views, webhooks
from services.notifications.domain import ESCALATE_AFTER, SYSTEM, Escalation, Notice, Notification, Webhook, notice_of
from services.notifications.schemas import check_webhook_url
from services.notifications.settings import NotificationsSettings
from shared.caller import Caller
from shared.errors import NotFound
from shared.store import ServiceStore


class Notifications(ServiceStore):
    name = "notifications"
    settings: NotificationsSettings

    def __init__(self, settings: NotificationsSettings):
        super().__init__(settings)
        self.directory = queries.Directory(self)

    def clock(self) -> datetime:
        return datetime.now(UTC)

    def domain_gauges(self) -> list:
        return queries.gauges(self)

    # --- who is who, learnt from other services' events: each once, however often it arrives ---------

    def case_registered(self, envelope: dict) -> bool:
        payload = envelope["payload"]
        return self.process_once("case_directory", envelope["event_id"], lambda curs: self.directory.add_case(
            curs, envelope["aggregate_id"], payload["case_number"], payload["assigned_to"], envelope["occurred_at"],
            envelope["aggregate_version"]))

    def user_registered(self, envelope: dict) -> bool:
        payload = envelope["payload"]
        return self.process_once("people", envelope["event_id"], lambda curs: self.directory.add_person(
            curs, payload["username"], payload["role"], payload["supervisor"], payload["provider_id"],
            payload["email"], envelope["aggregate_version"]))

    def user_changed(self, envelope: dict) -> bool:
        """An admin changed a person's role, supervisor, provider or e-mail: the directory follows."""
        payload = envelope["payload"]
        return self.process_once("people_changes", envelope["event_id"], lambda curs: self.directory.change_person(
            curs, payload["username"], payload["role"], payload["supervisor"], payload["provider_id"],
            payload["email"], envelope["aggregate_version"]))

    def user_status_changed(self, envelope: dict) -> bool:
        """A person deactivated (told nothing from now on) or reactivated."""
        payload = envelope["payload"]
        return self.process_once("people_status", envelope["event_id"], lambda curs: self.directory.set_active(
            curs, payload["username"], envelope["event_type"] == "UserReactivated", envelope["aggregate_version"]))

    def preferences_changed(self, envelope: dict) -> bool:
        payload = envelope["payload"]
        return self.process_once("preferences", envelope["event_id"], lambda curs: self.directory.set_email_on(
            curs, payload["username"], payload["email_notifications"]))

    def case_progressed(self, envelope: dict) -> bool:
        """A follow-up recorded, or the case closed or reopened: what escalation looks at."""
        return self.process_once("case_progress", envelope["event_id"], lambda curs: self.directory.record_progress(
            curs, envelope["aggregate_id"], envelope["event_type"], envelope["occurred_at"],
            envelope["aggregate_version"]))

    # --- telling ---------------------------------------------------------------------------------------

    def send_notifications(self, envelope: dict) -> bool:
        """Sends each recipient their notification of this event, exactly once."""
        consumer, event_id = "notify", envelope["event_id"]
        if self.processed(consumer, event_id):
            return False
        notice = self._to_those_here(notice_of(envelope["event_type"], envelope["payload"], envelope["aggregate_id"],
                                               self.directory))
        notifications = notice.notifications(event_id, by={**envelope["actor"],
                                                           "correlation_id": envelope["correlation_id"]})
        if envelope["event_type"] == "CaseReassigned":
            self.directory.reassign(notice.case_id, notice.facts["assigned_to"], envelope["aggregate_version"])
        if envelope["event_type"] == "FollowUpOverdue":
            self.directory.watch(notice.case_id, notice.facts["due"])  # idempotent too
        with self.transaction() as curs:  # idempotent too: one delivery per (event, webhook) and (event, recipient)
            self._queue_emails(curs, event_id, notice)
            self.queue_webhook_deliveries(curs, event_id, notice.kind, views.webhook_body(
                event_id, notice.kind, notice.case_id, notice.case_number, notice.message, envelope["occurred_at"]))
        return self.save_once(consumer, event_id, *notifications)

    def escalate_overdue(self) -> int:
        """Tells the supervisor, once, of a follow-up overdue by more than 24 hours and still not done."""
        overdue = self.directory.overdue(self.clock() - ESCALATE_AFTER)
        for escalation in overdue:
            self._escalate(escalation)
        return len(overdue)

    def _escalate(self, escalation: Escalation) -> None:
        notice = self._to_those_here(escalation.notice(self.directory.supervisors_of(escalation.assigned_to)))
        try:
            self.save(*notice.notifications(escalation.key, by=SYSTEM))
        except IntegrityError:
            pass  # sent before a crash kept the watch from being marked: not again
        with self.transaction() as curs:
            self._queue_emails(curs, escalation.key, notice)
            self.directory.mark_escalated(curs, escalation)

    def queue_webhook_deliveries(self, curs, event_id: UUID, kind: str, body: dict) -> None:
        """One delivery per webhook that asked for this kind, in the caller's transaction (`curs`)."""
        webhooks.queue_deliveries(self, curs, event_id, kind, body)

    def _to_those_here(self, notice: Notice) -> Notice:
        """The notice without the recipients who were deactivated: they are told nothing."""
        gone = self.directory.inactive_among(notice.recipients)
        return replace(notice, recipients=tuple(r for r in notice.recipients if r not in gone)) if gone else notice

    def _queue_emails(self, curs, key: UUID, notice: Notice) -> None:
        if not self.settings.mail.enabled or not notice.recipients:
            return
        for person in self.directory.reachable_by_email(curs, notice.recipients):
            mail.queue_email(self, curs, key, person["username"], person["email"], notice.case_number, notice.message)

    def mark_read(self, caller: Caller, notification_id: UUID) -> Notification:
        notification = self.get_one(notification_id, Notification, "No such notification.")
        policy.check_recipient(caller, notification.recipient)
        notification.mark_read(by=caller.recorded())
        self.save(notification)
        return notification

    # --- webhooks --------------------------------------------------------------------------------------

    def register_webhook(self, caller: Caller, data: dict, idempotency_key: str | None = None) -> Webhook:
        policy.check_webhooks(caller, policy.REGISTER)
        check_webhook_url(data["url"], self.settings.webhooks)
        def build(webhook_id: UUID, request_hash: str) -> Webhook:
            # eventsourcing takes the id given (`id: UUID` on the class), which mypy cannot see.
            return Webhook(id=webhook_id,  # type: ignore[call-arg]
                           request_hash=request_hash, by=caller.recorded(), **data)

        # create_once (shared/store.py) still reads the caller as a mapping.
        return self.create_once(Webhook, caller, idempotency_key, data, build)

    def delete_webhook(self, caller: Caller, webhook_id: UUID) -> None:
        policy.check_webhooks(caller, policy.DELETE)
        webhook = self._live_webhook(webhook_id)
        webhook.delete(by=caller.recorded())
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
