"""Entrypoints of the notifications service."""
from marshmallow import fields

from nameko.rpc import rpc

from services.notifications.application import NOTIFIED, Inbox, NotificationsStore
from shared.caller import read_caller
from shared.consumer import on_event
from shared.envelope import Strict, read_envelope
from shared.errors import EXPECTED
from shared.metrics import Observable
from shared.outbox import EventSourced
from shared.validation import load, parse_id


class InboxQuerySchema(Strict):
    unread = fields.Boolean(load_default=False)


class NotificationsService(Observable):
    name = "notifications"
    store: NotificationsStore = EventSourced(NotificationsStore, projections=(Inbox(),))

    @on_event("CaseRegistered")
    def case_directory(self, body):
        return self.store.case_registered(read_envelope(body))

    @on_event("UserRegistered")
    def people(self, body):
        return self.store.user_registered(read_envelope(body))

    @on_event(*NOTIFIED)
    def notify(self, body):
        return self.store.send_notifications(read_envelope(body))

    @rpc(expected_exceptions=EXPECTED)
    def inbox(self, caller, query):
        return self.store.inbox(read_caller(caller), load(InboxQuerySchema(), query)["unread"])

    @rpc(expected_exceptions=EXPECTED)
    def mark_read(self, caller, notification_id):
        notification = self.store.mark_read(read_caller(caller), parse_id(notification_id, "notification"))
        return {"id": str(notification.id), "read": notification.read}
