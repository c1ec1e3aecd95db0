"""Entrypoints of the notifications service."""
from nameko.web.handlers import http

from services.notifications.application import NotificationsStore
from shared.consumer import on_event
from shared.envelope import read_envelope
from shared.metrics import EVENTS_CONSUMED, WorkerMetrics, metrics_response
from shared.outbox import EventSourced


class NotificationsService:
    name = "notifications"
    store: NotificationsStore = EventSourced(NotificationsStore)
    metrics = WorkerMetrics()

    @on_event("CaseRegistered")
    def case_directory(self, body):
        envelope = read_envelope(body)
        first = self.store.case_registered(envelope)
        EVENTS_CONSUMED.labels(self.name, "case_directory", envelope["event_type"],
                               "processed" if first else "duplicate").inc()

    @http("GET", "/health")
    def health(self, request):
        return 200, "ok"

    @http("GET", "/metrics")
    def metrics_endpoint(self, request):
        return metrics_response()
