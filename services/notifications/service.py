"""Entrypoints of the notifications service."""

from services.notifications.application import NotificationsStore
from shared.consumer import on_event
from shared.envelope import read_envelope
from shared.metrics import EVENTS_CONSUMED, Observable
from shared.outbox import EventSourced


class NotificationsService(Observable):
    name = "notifications"
    store: NotificationsStore = EventSourced(NotificationsStore)

    @on_event("CaseRegistered")
    def case_directory(self, body):
        envelope = read_envelope(body)
        first = self.store.case_registered(envelope)
        EVENTS_CONSUMED.labels(self.name, "case_directory", envelope["event_type"],
                               "processed" if first else "duplicate").inc()
