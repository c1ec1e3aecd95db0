"""The referral pathway: the provider directory, a case's referrals, and a provider's answers. The
referrals service decides with its own policy; the gateway first asks the cases service whether the
case is the caller's, which only vouches for a case the referrals service has not heard of yet."""
from services.gateway import policy
from services.gateway.apidoc import doc
from services.gateway.http import idempotency_key, json_body, respond, route
from services.gateway.policy import Administration
from services.gateway.responses import ProviderPage, ProviderView, ReferralPage, ReferralView
from services.gateway.routes.base import Gateway
from services.gateway.schemas import PageQuerySchema, ProviderQuerySchema
from services.referrals import schemas as referral
from services.referrals.schemas import ProviderSchema


class ReferralRoutes(Gateway):
    """The referral pathway: its providers, a case's referrals, and a provider's answers to them."""
    tag = "referrals"

    @doc("Add a service provider to the referral pathway (admin)", body=ProviderSchema, status=201,
         returns=ProviderView, takes=("Idempotency-Key",), example={
             "name": "District Hospital", "service_types": ["medical"], "area": "North district",
             "contact": "+000 555 0199"})
    @route("POST", "/v1/providers")
    def register_provider(self, request, caller):
        policy.check(caller, Administration.REGISTER_PROVIDER)
        return respond(201, self.ask(self.referrals.register_provider, caller, json_body(request),
                                     idempotency_key(request)))

    @doc("Search the referral pathway's providers (any role)", returns=ProviderPage,
         query=referral.ProviderQuerySchema)
    @route("GET", "/v1/providers", query=ProviderQuerySchema)
    def providers(self, request, caller, query):
        return respond(200, self.ask(self.referrals.providers, caller, query))

    @doc("Refer the survivor to a provider; 409 unless current consent allows services and sharing",
         body=referral.ReferralSchema, status=201, returns=ReferralView, takes=("Idempotency-Key",), errors=(409,),
         example={"provider_id": "3f6c1d2e-8a4b-4c5d-9e0f-1a2b3c4d5e6f", "service_type": "medical",
                  "urgency": "urgent", "notes": "Needs an appointment this week."})
    @route("POST", "/v1/cases/<string:case_id>/referrals")
    def make_referral(self, request, caller, case_id):
        body, key = json_body(request), idempotency_key(request)
        case = self.ask(self.cases.case_in_scope, caller, case_id, "refer")  # 404, 409
        return respond(201, self.ask(self.referrals.make_referral, caller, case["id"], case["case_number"], body,
                                     key, True))

    @doc("The case's referrals", returns=ReferralPage, query=referral.ReferralListQuerySchema)
    @route("GET", "/v1/cases/<string:case_id>/referrals", query=PageQuerySchema)
    def referrals_of_case(self, request, caller, case_id, query):
        case = self.ask(self.cases.case_in_scope, caller, case_id)
        return respond(200, self.ask(self.referrals.referrals_of_case, caller, case["id"], True, query))

    @doc("Referrals: a provider's, or those a caseworker's team made", returns=ReferralPage,
         query=referral.ReferralListQuerySchema)
    @route("GET", "/v1/referrals", query=PageQuerySchema)
    def referrals_list(self, request, caller, query):
        return respond(200, self.ask(self.referrals.referrals, caller, query))

    @doc("Accept a referral (the provider)", returns=ReferralView, errors=(409, 400, 413, 415))
    @route("POST", "/v1/referrals/<string:referral_id>/accept")
    def accept_referral(self, request, caller, referral_id):
        return self._provider_action(request, caller, referral_id, "accept")

    @doc("Decline a referral, with a reason (the provider)", body=referral.ReasonSchema, returns=ReferralView,
         errors=(409,), example={"reason": "No capacity this month."})
    @route("POST", "/v1/referrals/<string:referral_id>/decline")
    def decline_referral(self, request, caller, referral_id):
        return self._provider_action(request, caller, referral_id, "decline")

    @doc("Complete a referral, with its outcome (the provider)", body=referral.OutcomeSchema,
         returns=ReferralView, errors=(409,), example={"outcome": "Treated; follow-up booked."})
    @route("POST", "/v1/referrals/<string:referral_id>/complete")
    def complete_referral(self, request, caller, referral_id):
        return self._provider_action(request, caller, referral_id, "complete")

    @doc("Withdraw a referral (the case's caseworker or supervisor)", body=referral.ReasonSchema,
         returns=ReferralView, errors=(409,), example={"reason": "The survivor moved away."})
    @route("POST", "/v1/referrals/<string:referral_id>/withdraw")
    def withdraw_referral(self, request, caller, referral_id):
        body, key = json_body(request), idempotency_key(request)
        case_id = self.ask(self.referrals.case_of_referral, caller, referral_id)
        self.ask(self.cases.case_in_scope, caller, case_id)  # the case's caseworker or supervisor
        return respond(200, self.ask(self.referrals.withdraw, caller, referral_id, body, True, key))

    def _provider_action(self, request, caller, referral_id, action):
        body, key = json_body(request) or {}, idempotency_key(request)
        return respond(200, self.ask(self.referrals.act_as_provider, caller, referral_id, action, body, key))
