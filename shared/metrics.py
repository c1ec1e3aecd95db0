"""Prometheus metrics shared by every service, and the /metrics response."""
import time

from nameko.extensions import DependencyProvider
from nameko.web.handlers import http
from prometheus_client import REGISTRY, Counter, Gauge, Histogram, generate_latest
from werkzeug.wrappers import Response

from shared.logs import correlation_id

# prometheus_client 0.26 names version=1.0.0, which Prometheus 2.x does not take.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

EVENTS_PUBLISHED = Counter("casetrail_events_published_total",
                           "Events the outbox relay published to RabbitMQ", ["service", "event_type"])
FOLLOWER_POSITION = Gauge("casetrail_follower_position",
                          "Last notification id a follower of the log handled", ["service", "follower"])
FOLLOWER_LAG = Gauge("casetrail_follower_lag_events",
                     "Notifications recorded but not yet handled by a follower", ["service", "follower"])
FOLLOWER_ERRORS = Counter("casetrail_follower_errors_total",
                          "Failed follower steps (retried with backoff)", ["service", "follower"])
EVENTS_CONSUMED = Counter("casetrail_events_consumed_total",
                          "Bus events handled, by outcome (processed, duplicate, retried, dead_lettered)",
                          ["service", "consumer", "event_type", "outcome"])
RPC_DURATION = Histogram("casetrail_worker_duration_seconds", "Time spent in RPC and event handlers",
                         ["service", "method", "outcome"])
HTTP_DURATION = Histogram("casetrail_http_request_duration_seconds", "Gateway request time",
                          ["method", "route", "status"])


def metrics_response() -> Response:
    return Response(generate_latest(REGISTRY), headers={"Content-Type": CONTENT_TYPE})


class WorkerMetrics(DependencyProvider):
    """Times every RPC and event worker of the service it is declared on, and binds the
    worker's correlation id (from the caller or the envelope) to its log lines."""

    def setup(self) -> None:
        self.started: dict = {}

    def worker_setup(self, worker_ctx) -> None:
        first = worker_ctx.args[0] if worker_ctx.args else None
        cid = first.get("correlation_id") if isinstance(first, dict) else None
        self.started[worker_ctx] = (time.perf_counter(), correlation_id.set(cid))

    def worker_result(self, worker_ctx, result=None, exc_info=None) -> None:
        started, token = self.started.pop(worker_ctx, (None, None))
        if token is not None:
            correlation_id.reset(token)
        if started is None or worker_ctx.entrypoint.__class__.__name__ == "HttpRequestHandler":
            return
        outcome = "ok" if exc_info is None else exc_info[0].__name__
        RPC_DURATION.labels(self.container.service_name, worker_ctx.entrypoint.method_name,
                            outcome).observe(time.perf_counter() - started)


class Observable:
    """Mixed into every service: /health, /metrics, and worker metrics."""

    metrics = WorkerMetrics()

    @http("GET", "/health")
    def health(self, request):
        return Response('{"status": "ok"}', content_type="application/json")

    @http("GET", "/metrics")
    def metrics_endpoint(self, request):
        return metrics_response()
