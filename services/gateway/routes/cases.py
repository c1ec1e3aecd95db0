"""A case, its record and its audit trail: each forwarded to the cases service, which decides."""
import rfc8785
from werkzeug.wrappers import Response

from services.gateway.http import idempotency_key, json_body, respond, route
from services.gateway.routes.base import Gateway
from services.gateway.schemas import CaseListQuerySchema, CaseQuerySchema, ChangesQuerySchema, PageQuerySchema


class CaseRoutes(Gateway):
    @route("POST", "/v1/cases")
    def register_case(self, request, caller):
        case = self.ask(self.cases.register_case, caller, json_body(request), idempotency_key(request))
        return respond(201, case, {"ETag": f'"{case["version"]}"', "Location": f"/v1/cases/{case['id']}"})

    @route("GET", "/v1/cases", query=CaseListQuerySchema)
    def list_cases(self, request, caller, query):
        return respond(200, self.ask(self.cases.list_cases, caller, query))

    @route("GET", "/v1/changes", query=ChangesQuerySchema)
    def list_changes(self, request, caller, query):
        return respond(200, self.ask(self.cases.list_changes, caller, query))

    @route("GET", "/v1/cases/<string:case_id>", query=CaseQuerySchema)
    def get_case(self, request, caller, case_id, query):
        case = self.ask(self.cases.get_case, caller, case_id, query)
        return respond(200, case, {"ETag": f'"{case["version"]}"'})

    @route("GET", "/v1/cases/<string:case_id>/history", query=PageQuerySchema)
    def case_history(self, request, caller, case_id, query):
        return respond(200, self.ask(self.cases.case_history, caller, case_id, query))

    @route("GET", "/v1/cases/<string:case_id>/verify")
    def verify_case(self, request, caller, case_id):
        return respond(200, self.ask(self.cases.verify_case, caller, case_id))

    @route("GET", "/v1/cases/<string:case_id>/export")
    def export_case(self, request, caller, case_id):
        bundle = self.ask(self.cases.export_case, caller, case_id)
        # Canonical JSON (RFC 8785) as sent: what was signed, byte for byte, for tools that check it so.
        return Response(rfc8785.dumps(bundle), status=200, content_type="application/json")

    @route("GET", "/v1/audit/public-key")
    def audit_public_key(self, request, caller):
        return respond(200, self.ask(self.cases.audit_public_keys, caller))


class CaseCommandRoutes(Gateway):
    """The commands on a case: the cases service's method of the same name, with If-Match and
    Idempotency-Key, answered with the case's new version as ETag."""

    @route("POST", "/v1/cases/<string:case_id>/erase")
    def erase_case(self, request, caller, case_id):
        return self.case_command(request, caller, case_id, self.cases.erase_case, 200)

    @route("POST", "/v1/cases/<string:case_id>/consent")
    def record_consent(self, request, caller, case_id):
        return self.case_command(request, caller, case_id, self.cases.record_consent, 201)

    @route("POST", "/v1/cases/<string:case_id>/consent/withdraw")
    def withdraw_consent(self, request, caller, case_id):
        return self.case_command(request, caller, case_id, self.cases.withdraw_consent, 200, body=False)

    @route("POST", "/v1/cases/<string:case_id>/assessment")
    def assess(self, request, caller, case_id):
        return self.case_command(request, caller, case_id, self.cases.assess, 200)

    @route("PUT", "/v1/cases/<string:case_id>/plan")
    def draft_plan(self, request, caller, case_id):
        return self.case_command(request, caller, case_id, self.cases.draft_plan, 200)

    @route("POST", "/v1/cases/<string:case_id>/plan/submit")
    def submit_plan(self, request, caller, case_id):
        return self.case_command(request, caller, case_id, self.cases.submit_plan, 202, body=False)

    @route("POST", "/v1/cases/<string:case_id>/follow-ups")
    def record_follow_up(self, request, caller, case_id):
        return self.case_command(request, caller, case_id, self.cases.record_follow_up, 201)

    @route("POST", "/v1/cases/<string:case_id>/conferences")
    def hold_conference(self, request, caller, case_id):
        return self.case_command(request, caller, case_id, self.cases.hold_conference, 201)

    @route("POST", "/v1/cases/<string:case_id>/closure")
    def request_closure(self, request, caller, case_id):
        return self.case_command(request, caller, case_id, self.cases.request_closure, 202)

    @route("POST", "/v1/cases/<string:case_id>/reopen")
    def reopen(self, request, caller, case_id):
        return self.case_command(request, caller, case_id, self.cases.reopen, 200)

    @route("POST", "/v1/cases/<string:case_id>/reassign")
    def reassign(self, request, caller, case_id):
        return self.case_command(request, caller, case_id, self.cases.reassign, 200)

    @route("POST", "/v1/cases/<string:case_id>/feedback")
    def give_feedback(self, request, caller, case_id):
        return self.case_command(request, caller, case_id, self.cases.give_feedback, 201)
