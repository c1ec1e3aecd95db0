"""A case, its record and its audit trail: each forwarded to the cases service, which decides."""
import rfc8785
from werkzeug.wrappers import Response

from services.cases import schemas as case
from services.gateway.apidoc import doc
from services.gateway.http import idempotency_key, json_body, respond, route
from services.gateway.responses import (
    AuditBundleView,
    CasePage,
    CaseView,
    ChangesPage,
    ConsentView,
    HistoryPage,
    PublicKeysView,
    RecordedView,
    VerificationView,
)
from services.gateway.routes.base import Gateway
from services.gateway.schemas import CaseListQuerySchema, CaseQuerySchema, ChangesQuerySchema, PageQuerySchema

COMMAND = {"takes": ("If-Match", "Idempotency-Key"), "errors": (409,)}  # 409: not in the case's current state
CASE_COMMAND = {**COMMAND, "returns": CaseView, "headers": ("ETag",)}


class CaseRoutes(Gateway):
    """A survivor's case: registering it, the case list, the case file (as it is, or as it was), and its audit
    trail (history, verification, signed export)."""
    tag = "cases"

    @doc("Register a survivor's case (caseworker, supervisor)", body=case.RegisterCaseSchema, status=201,
         returns=CaseView, headers=("ETag", "Location"), takes=("Idempotency-Key",), example={
             "survivor": {"name": "A. Survivor", "sex": "female", "date_of_birth": "1994-05-17",
                          "phone": "+000 555 0100", "location": "North district"},
             "risk_level": "medium", "intake_notes": "Referred by the health centre."})
    @route("POST", "/v1/cases")
    def register_case(self, request, caller):
        case = self.ask(self.cases.register_case, caller, json_body(request), idempotency_key(request))
        return respond(201, case, {"ETag": f'"{case["version"]}"', "Location": f"/v1/cases/{case['id']}"})

    @doc("Cases in the caller's scope, by case number (caseworker, supervisor); an auditor finds a case of "
         "their organisation by its `case_number`", returns=CasePage, query=case.ListCasesSchema)
    @route("GET", "/v1/cases", query=CaseListQuerySchema)
    def list_cases(self, request, caller, query):
        """An auditor lists no cases (403) but finds one by its exact `case_number`: the list's items carry
        nothing identifying a survivor. A number of another organisation, like an unknown one, is an empty
        list."""
        return respond(200, self.ask(self.cases.list_cases, caller, query))

    @doc("What changed in the caller's scope since a cursor, for clients that keep an offline copy "
         "(caseworker, supervisor)", returns=ChangesPage, query=case.ChangesQuerySchema)
    @route("GET", "/v1/changes", query=ChangesQuerySchema)
    def list_changes(self, request, caller, query):
        """Start without `since`; keep each answer's `next_cursor` (always present) and pass it as `since` next
        time. `reset: true`: the answer starts from nothing (no cursor, or the caller's scope changed since it
        was given): drop the local copy, then apply the items. `updated`: GET the case; `left_scope`: remove
        it. Fewer items than `limit`: the client is up to date. A cursor this service did not give out is 422
        (`since`)."""
        return respond(200, self.ask(self.cases.list_changes, caller, query))

    @doc("A case file; with `as_of`, as it was then (an auditor sees identifying fields redacted)",
         returns=CaseView, headers=("ETag",), query=case.AsOfSchema)
    @route("GET", "/v1/cases/<string:case_id>", query=CaseQuerySchema)
    def get_case(self, request, caller, case_id, query):
        case = self.ask(self.cases.get_case, caller, case_id, query)
        return respond(200, case, {"ETag": f'"{case["version"]}"'})

    @doc("Every event on the case in order, with its hash chain (views are recorded too)", returns=HistoryPage,
         query=case.HistoryQuerySchema)
    @route("GET", "/v1/cases/<string:case_id>/history", query=PageQuerySchema)
    def case_history(self, request, caller, case_id, query):
        return respond(200, self.ask(self.cases.case_history, caller, case_id, query))

    @doc("Recompute the case's hash chain over the stored events", returns=VerificationView)
    @route("GET", "/v1/cases/<string:case_id>/verify")
    def verify_case(self, request, caller, case_id):
        return respond(200, self.ask(self.cases.verify_case, caller, case_id))

    @doc("The case's signed audit bundle (RFC 8785 canonical JSON, Ed25519), recorded as a view",
         returns=AuditBundleView)
    @route("GET", "/v1/cases/<string:case_id>/export")
    def export_case(self, request, caller, case_id):
        bundle = self.ask(self.cases.export_case, caller, case_id)
        # Canonical JSON (RFC 8785) as sent: what was signed, byte for byte, for tools that check it so.
        return Response(rfc8785.dumps(bundle), status=200, content_type="application/json")

    @doc("The Ed25519 public keys that verify audit bundles: the current one first", returns=PublicKeysView)
    @route("GET", "/v1/audit/public-key")
    def audit_public_key(self, request, caller):
        return respond(200, self.ask(self.cases.audit_public_keys, caller))


class CaseCommandRoutes(Gateway):
    """The commands on a case: the cases service's method of the same name, with If-Match and
    Idempotency-Key, answered with the case's new version as ETag."""
    tag = "case commands"

    @doc("Erase the survivor's identifying data (supervisor of the case's team): it reads \"[erased]\" everywhere "
         "from then on; the history remains and still verifies", body=case.EraseSchema,
         example={"reason": "The survivor asked to be forgotten."}, **CASE_COMMAND)
    @route("POST", "/v1/cases/<string:case_id>/erase")
    def erase_case(self, request, caller, case_id):
        return self.case_command(request, caller, case_id, self.cases.erase_case, 200)

    @doc("Record the survivor's consent (kept apart from the case file)", body=case.ConsentSchema, status=201,
         returns=ConsentView, example={"services": True, "share_with_providers": True,
                                       "mandatory_reporting_explained": True, "given_by": "survivor"}, **COMMAND)
    @route("POST", "/v1/cases/<string:case_id>/consent")
    def record_consent(self, request, caller, case_id):
        return self.case_command(request, caller, case_id, self.cases.record_consent, 201)

    @doc("Withdraw consent: the case's open referrals are withdrawn too", returns=ConsentView, **COMMAND)
    @route("POST", "/v1/cases/<string:case_id>/consent/withdraw")
    def withdraw_consent(self, request, caller, case_id):
        return self.case_command(request, caller, case_id, self.cases.withdraw_consent, 200, body=False)

    @doc("Record an assessment; the case moves to case_plan", body=case.AssessmentSchema, example={
        "needs": ["medical", "psychosocial"], "safety_concerns": "Lives with the perpetrator.", "risk_level": "high"},
         **CASE_COMMAND)
    @route("POST", "/v1/cases/<string:case_id>/assessment")
    def assess(self, request, caller, case_id):
        return self.case_command(request, caller, case_id, self.cases.assess, 200)

    @doc("Draft (or revise) the case action plan: it is a draft until submitted", body=case.PlanSchema, example={
        "goals": [{"need": "medical", "action": "Accompany to the clinic.", "responsible": "Caseworker",
                   "due_date": "2026-12-01"}]}, **CASE_COMMAND)
    @route("PUT", "/v1/cases/<string:case_id>/plan")
    def draft_plan(self, request, caller, case_id):
        return self.case_command(request, caller, case_id, self.cases.draft_plan, 200)

    @doc("Submit the plan: it waits for a supervisor, or is approved at once when the policy needs no approval",
         status=202, **CASE_COMMAND)
    @route("POST", "/v1/cases/<string:case_id>/plan/submit")
    def submit_plan(self, request, caller, case_id):
        return self.case_command(request, caller, case_id, self.cases.submit_plan, 202, body=False)

    @doc("Record a follow-up (with monitoring by domain, optionally); answers the new next_due",
         body=case.FollowUpSchema, status=201, example={
             "contacted": True, "contact_date": "2026-11-20T10:00:00Z", "safety_reassessed": True, "mode": "phone",
             "spoken_to": ["survivor"], "domain_ratings": {"safety_protection": "orange"}}, **CASE_COMMAND)
    @route("POST", "/v1/cases/<string:case_id>/follow-ups")
    def record_follow_up(self, request, caller, case_id):
        return self.case_command(request, caller, case_id, self.cases.record_follow_up, 201)

    @doc("Record a case conference", body=case.ConferenceSchema, status=201, example={
        "held_on": "2026-11-18", "participants": ["Caseworker", "Health worker"], "decisions": "Refer to shelter."},
         **CASE_COMMAND)
    @route("POST", "/v1/cases/<string:case_id>/conferences")
    def hold_conference(self, request, caller, case_id):
        return self.case_command(request, caller, case_id, self.cases.hold_conference, 201)

    @doc("Request closure: approved by a supervisor or at once, per the approval policy",
         body=case.ClosureSchema, status=202, example={"reason": "needs_met", "notes": "Goals reached."},
         **CASE_COMMAND)
    @route("POST", "/v1/cases/<string:case_id>/closure")
    def request_closure(self, request, caller, case_id):
        return self.case_command(request, caller, case_id, self.cases.request_closure, 202)

    @doc("Reopen a closed case (back to follow_up)", body=case.ReasonSchema,
         example={"reason": "The survivor asked for help again."}, **CASE_COMMAND)
    @route("POST", "/v1/cases/<string:case_id>/reopen")
    def reopen(self, request, caller, case_id):
        return self.case_command(request, caller, case_id, self.cases.reopen, 200)

    @doc("Reassign the case to a caseworker of the supervisor's team (supervisor)", body=case.ReassignSchema,
         example={"caseworker": "cw2"}, **CASE_COMMAND)
    @route("POST", "/v1/cases/<string:case_id>/reassign")
    def reassign(self, request, caller, case_id):
        body = json_body(request)
        self.identity.check_reassignable(caller, body)
        return self.case_command(request, caller, case_id, self.cases.reassign, 200, read=body)

    @doc("Record the survivor's feedback on a closed case (the case's team, never its own caseworker)",
         body=case.FeedbackSchema, status=201, returns=RecordedView, example={"answers": {"helpful": "Yes."}},
         **COMMAND)
    @route("POST", "/v1/cases/<string:case_id>/feedback")
    def give_feedback(self, request, caller, case_id):
        return self.case_command(request, caller, case_id, self.cases.give_feedback, 201)
