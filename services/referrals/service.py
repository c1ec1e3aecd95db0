"""Entrypoints of the referrals service."""
from nameko.web.handlers import http

from services.referrals.application import ReferralsStore
from shared.metrics import WorkerMetrics, metrics_response
from shared.outbox import EventSourced


class ReferralsService:
    name = "referrals"
    store: ReferralsStore = EventSourced(ReferralsStore)
    metrics = WorkerMetrics()

    @http("GET", "/health")
    def health(self, request):
        return 200, "ok"

    @http("GET", "/metrics")
    def metrics_endpoint(self, request):
        return metrics_response()
