"""Prometheus metrics shared by every service, and the /metrics response.

Counters and histograms are per process. Figures read from a service's database (its read
models, its followers' lag) are collected at scrape time by `StoreGauges`; every instance of a
service reports the same values, so dashboards take `max` of them. With several worker
processes behind one /metrics, set PROMETHEUS_MULTIPROC_DIR (prometheus_client's multiprocess
mode). No label value ever carries survivor data: labels are service, command, event type,
stage, risk level, status and the like."""
import logging
import time
from collections.abc import Callable

from nameko.extensions import DependencyProvider
from nameko.rpc import Rpc
from nameko.timer import Timer
from nameko.web.handlers import http
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest, multiprocess
from prometheus_client.core import GaugeMetricFamily
from werkzeug.wrappers import Response

from shared.errors import REFUSALS
from shared.logs import correlation_id
from shared.rpc import rpc
from shared.settings import metrics_settings

log = logging.getLogger(__name__)

# prometheus_client 0.26 names version=1.0.0, which Prometheus 2.x does not take.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

COMMANDS = Counter("casetrail_commands_total", "RPC commands and queries handled, by outcome (ok or the error's class)"
                   " and kind (ok, refused: the caller may not do it; fault: the system failed)",
                   ["service", "command", "outcome", "kind"])
COMMAND_DURATION = Histogram("casetrail_command_duration_seconds", "Time to handle an RPC command or query",
                             ["service", "command", "outcome", "kind"])
HANDLER_DURATION = Histogram("casetrail_event_handler_duration_seconds", "Time to handle one bus event",
                             ["service", "consumer", "outcome"])
TIMER_DURATION = Histogram("casetrail_timer_duration_seconds", "Time of one run of a periodic task",
                           ["service", "timer", "outcome"])
EVENTS_APPENDED = Counter("casetrail_events_appended_total", "Events appended to the service's store",
                          ["service", "event_type"])
EVENTS_PUBLISHED = Counter("casetrail_events_published_total",
                           "Events the outbox relay published to RabbitMQ", ["service", "event_type"])
PUBLISH_DURATION = Histogram("casetrail_publish_duration_seconds",
                             "Publishing one event to RabbitMQ, until the broker confirms it", ["service"])
FOLLOWER_ERRORS = Counter("casetrail_follower_errors_total",
                          "Failed follower steps (retried with backoff)", ["service", "follower"])
EVENTS_QUARANTINED = Counter("casetrail_events_quarantined_total",
                              "Events set aside by a follower or consumer (quarantined after failing every attempt,"
                              " or held behind one)", ["service", "follower", "status"])
EVENTS_CONSUMED = Counter("casetrail_events_consumed_total",
                          "Bus events handled, by outcome (processed, duplicate, retried, waited, quarantined, held)",
                          ["service", "consumer", "event_type", "outcome"])
RPC_ERRORS = Counter("casetrail_rpc_errors_total",
                     "Gateway calls to a service that failed (timeout, unavailable, unexpected error)",
                     ["target", "method", "error"])
HTTP_DURATION = Histogram("casetrail_http_request_duration_seconds", "Gateway request time",
                          ["method", "route", "status"])


def outcome_kind(error: type[BaseException] | None) -> str:
    """`ok`; `refused` for a domain error (the caller asked what it may not have: a caseworker's everyday
    refusal, not an operator's concern); `fault` for anything else (a timeout, a bug, an outage)."""
    if error is None:
        return "ok"
    return "refused" if issubclass(error, REFUSALS) else "fault"


def metrics_response() -> Response:
    registry = REGISTRY
    if metrics_settings().prometheus_multiproc_dir:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        for collector in StoreGauges.registered:
            registry.register(collector)
    return Response(generate_latest(registry), headers={"Content-Type": CONTENT_TYPE})


class StoreGauges:
    """Gauges read at scrape time (at most every `ttl` seconds) from the service's database, or
    from the broker (`source="broker"`), with `casetrail_<source>_up` saying whether that worked."""

    registered: list["StoreGauges"] = []

    def __init__(self, service: str, read: Callable[[], list[GaugeMetricFamily]], ttl: float = 5.0,
                 source: str = "store"):
        self.service, self.read, self.ttl, self.source = service, read, ttl, source
        self.cached: list = []
        self.read_at = float("-inf")

    def describe(self):
        return []  # nothing to check at registration: no database read before the first scrape

    def collect(self):
        if time.monotonic() - self.read_at >= self.ttl:
            up = GaugeMetricFamily(f"casetrail_{self.source}_up", f"Whether the service could read its {self.source}",
                                   labels=["service"])
            try:
                families = self.read()
                up.add_metric([self.service], 1)
            except Exception:
                log.warning("%s: could not read gauges from its %s", self.service, self.source, exc_info=True)
                families = []
                up.add_metric([self.service], 0)
            self.cached, self.read_at = [up, *families], time.monotonic()
        return self.cached

    def register(self) -> "StoreGauges":
        REGISTRY.register(self)
        StoreGauges.registered.append(self)
        return self

    def unregister(self) -> None:
        REGISTRY.unregister(self)
        StoreGauges.registered.remove(self)


def gauge(name: str, documentation: str, labels: list[str], rows) -> GaugeMetricFamily:
    """A gauge family from rows of (label values..., value)."""
    family = GaugeMetricFamily(name, documentation, labels=labels)
    for *values, value in rows:
        family.add_metric([str(v) for v in values], float(value))
    return family


class WorkerMetrics(DependencyProvider):
    """Times every RPC, event and timer worker of the service it is declared on, and binds the
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
        if started is None:
            return
        elapsed = time.perf_counter() - started
        service, method = self.container.service_name, worker_ctx.entrypoint.method_name
        error = None if exc_info is None else exc_info[0]
        outcome = "ok" if error is None else error.__name__
        entrypoint = type(worker_ctx.entrypoint).__name__
        if isinstance(worker_ctx.entrypoint, Rpc):
            kind = outcome_kind(error)
            COMMANDS.labels(service, method, outcome, kind).inc()
            COMMAND_DURATION.labels(service, method, outcome, kind).observe(elapsed)
        elif entrypoint == "EventConsumer":
            HANDLER_DURATION.labels(service, method, outcome).observe(elapsed)
        elif isinstance(worker_ctx.entrypoint, Timer):  # @every (shared/configured.py) too
            TIMER_DURATION.labels(service, method, outcome).observe(elapsed)


class Observable:
    """Mixed into every service: /health, /metrics, and worker metrics."""

    metrics = WorkerMetrics()

    @rpc
    def ping(self, caller):
        """The cheapest RPC round trip (the caller proved, as on every call): what benchmarks compare
        commands with."""
        return "pong"

    @http("GET", "/health")
    def health(self, request):
        return Response('{"status": "ok"}', content_type="application/json")

    @http("GET", "/metrics")
    def metrics_endpoint(self, request):
        return metrics_response()
