"""Entrypoints of the notifications service."""

from services.notifications.application import NotificationsStore
from shared.consumer import on_event
from shared.envelope import read_envelope
from shared.metrics import Observable
from shared.outbox import EventSourced


class NotificationsService(Observable):
    name = "notifications"
    store: NotificationsStore = EventSourced(NotificationsStore)

    @on_event("CaseRegistered")
    def case_directory(self, body):
        return self.store.case_registered(read_envelope(body))
