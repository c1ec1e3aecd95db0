"""Entrypoints of the notifications service: bus events, timers and RPC. Each parses, calls a use
case (application.py) or a read (queries.py), and maps the answer (views.py)."""
from services.notifications import mail, views, webhooks
from services.notifications.application import Notifications
from services.notifications.domain import CASE_PROGRESS, NOTIFIED
from services.notifications.queries import InboxItems, Reads
from services.notifications.schemas import InboxQuerySchema, WebhookListQuerySchema, WebhookSchema
from services.notifications.settings import NotificationsSettings
from shared.caller import read_caller
from shared.configured import Configured, every
from shared.consumer import on_event
from shared.envelope import read_envelope
from shared.errors import EXPECTED
from shared.metrics import Observable
from shared.outbox import EventSourced
from shared.rpc import rpc
from shared.validation import clean, load, parse_id


class NotificationsService(Observable):
    name = "notifications"
    settings: NotificationsSettings = Configured(NotificationsSettings)
    store: Notifications = EventSourced(Notifications, projections=(InboxItems(),))

    @on_event("CaseRegistered")
    def case_directory(self, body):
        return self.store.case_registered(read_envelope(body))

    @on_event("UserRegistered")
    def people(self, body):
        return self.store.user_registered(read_envelope(body))

    @on_event("UserChanged")
    def people_changes(self, body):
        return self.store.user_changed(read_envelope(body))

    @on_event("UserDeactivated", "UserReactivated")
    def people_status(self, body):
        return self.store.user_status_changed(read_envelope(body))

    @on_event("UserPreferencesChanged")
    def preferences(self, body):
        return self.store.preferences_changed(read_envelope(body))

    @on_event(*NOTIFIED)
    def notify(self, body):
        return self.store.send_notifications(read_envelope(body))

    @on_event(*CASE_PROGRESS)
    def case_progress(self, body):
        return self.store.case_progressed(read_envelope(body))

    @every("escalation_scan_seconds")
    def escalate_overdue_follow_ups(self):
        self.store.escalate_overdue()

    @every("webhook_scan_seconds")
    def deliver_webhooks(self):
        webhooks.deliver_due(self.store, self.settings.webhooks)

    @every("webhook_scan_seconds")
    def send_email(self):
        while self.settings.mail.enabled and mail.send_due(self.store, self.settings.mail):
            pass

    @rpc(expected_exceptions=EXPECTED)
    def register_webhook(self, caller, data, idempotency_key=None):
        webhook = self.store.register_webhook(read_caller(caller), clean(WebhookSchema, data), idempotency_key)
        return views.webhook(webhook)

    @rpc(expected_exceptions=EXPECTED)
    def webhook_list(self, caller, query):
        return Reads(self.store).webhooks(read_caller(caller), load(WebhookListQuerySchema, query))

    @rpc(expected_exceptions=EXPECTED)
    def delete_webhook(self, caller, webhook_id):
        self.store.delete_webhook(read_caller(caller), parse_id(webhook_id, "webhook"))

    @rpc(expected_exceptions=EXPECTED)
    def webhook_deliveries(self, caller, webhook_id, query=None):
        return Reads(self.store).deliveries(read_caller(caller), parse_id(webhook_id, "webhook"),
                                            load(WebhookListQuerySchema, query or {}))

    @rpc(expected_exceptions=EXPECTED)
    def inbox(self, caller, query):
        return Reads(self.store).inbox(read_caller(caller), load(InboxQuerySchema, query))

    @rpc(expected_exceptions=EXPECTED)
    def mark_read(self, caller, notification_id):
        return views.read_state(self.store.mark_read(read_caller(caller), parse_id(notification_id, "notification")))
