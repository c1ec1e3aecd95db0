"""Entrypoints of the approvals service."""
from nameko.web.handlers import http

from services.approvals.application import ApprovalsStore
from shared.metrics import WorkerMetrics, metrics_response
from shared.outbox import EventSourced


class ApprovalsService:
    name = "approvals"
    store: ApprovalsStore = EventSourced(ApprovalsStore)
    metrics = WorkerMetrics()

    @http("GET", "/health")
    def health(self, request):
        return 200, "ok"

    @http("GET", "/metrics")
    def metrics_endpoint(self, request):
        return metrics_response()
