"""Entrypoints of the cases service: parse, call, return. Errors cross RPC by name."""
from nameko.rpc import rpc
from nameko.web.handlers import http

from services.cases.application import CaseIndex, CasesStore, case_view, public_event
from services.cases.domain import require
from services.cases.schemas import ListCasesSchema, RegisterCaseSchema
from shared.caller import read_caller
from shared.errors import EXPECTED
from shared.metrics import WorkerMetrics, metrics_response
from shared.outbox import EventSourced
from shared.validation import clean, load, parse_id


class CasesService:
    name = "cases"
    store: CasesStore = EventSourced(CasesStore, publication=public_event, projections=(CaseIndex(),))
    metrics = WorkerMetrics()

    @rpc(expected_exceptions=EXPECTED)
    def register_case(self, caller, data, idempotency_key=None):
        caller = read_caller(caller)
        require(caller, "register_case")
        case = self.store.register_case(caller, clean(RegisterCaseSchema(), data), idempotency_key)
        return case_view(case)

    @rpc(expected_exceptions=EXPECTED)
    def get_case(self, caller, case_id):
        return case_view(self.store.case_for(read_caller(caller), parse_id(case_id, "case")))

    @rpc(expected_exceptions=EXPECTED)
    def list_cases(self, caller, filters):
        caller = read_caller(caller)
        require(caller, "list_cases")
        return self.store.list_cases(caller, load(ListCasesSchema(), filters))

    @http("GET", "/health")
    def health(self, request):
        return 200, "ok"

    @http("GET", "/metrics")
    def metrics_endpoint(self, request):
        return metrics_response()

