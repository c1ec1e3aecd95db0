"""The referral pathway: the provider directory, a case's referrals, and a provider's answers. The
referrals service decides with its own policy; the gateway first asks the cases service whether the
case is the caller's, which only vouches for a case the referrals service has not heard of yet."""
from services.gateway import policy
from services.gateway.http import idempotency_key, json_body, respond, route
from services.gateway.policy import Administration
from services.gateway.routes.base import Gateway
from services.gateway.schemas import PageQuerySchema, ProviderQuerySchema


class ReferralRoutes(Gateway):
    @route("POST", "/v1/providers")
    def register_provider(self, request, caller):
        policy.check(caller, Administration.REGISTER_PROVIDER)
        return respond(201, self.ask(self.referrals.register_provider, caller, json_body(request),
                                     idempotency_key(request)))

    @route("GET", "/v1/providers", query=ProviderQuerySchema)
    def providers(self, request, caller, query):
        return respond(200, self.ask(self.referrals.providers, caller, query))

    @route("POST", "/v1/cases/<string:case_id>/referrals")
    def make_referral(self, request, caller, case_id):
        body, key = json_body(request), idempotency_key(request)
        case = self.ask(self.cases.case_in_scope, caller, case_id, "refer")  # 404, 409
        return respond(201, self.ask(self.referrals.make_referral, caller, case["id"], case["case_number"], body,
                                     key, True))

    @route("GET", "/v1/cases/<string:case_id>/referrals", query=PageQuerySchema)
    def referrals_of_case(self, request, caller, case_id, query):
        case = self.ask(self.cases.case_in_scope, caller, case_id)
        return respond(200, self.ask(self.referrals.referrals_of_case, caller, case["id"], True, query))

    @route("GET", "/v1/referrals", query=PageQuerySchema)
    def referrals_list(self, request, caller, query):
        return respond(200, self.ask(self.referrals.referrals, caller, query))

    @route("POST", "/v1/referrals/<string:referral_id>/accept")
    def accept_referral(self, request, caller, referral_id):
        return self._provider_action(request, caller, referral_id, "accept")

    @route("POST", "/v1/referrals/<string:referral_id>/decline")
    def decline_referral(self, request, caller, referral_id):
        return self._provider_action(request, caller, referral_id, "decline")

    @route("POST", "/v1/referrals/<string:referral_id>/complete")
    def complete_referral(self, request, caller, referral_id):
        return self._provider_action(request, caller, referral_id, "complete")

    @route("POST", "/v1/referrals/<string:referral_id>/withdraw")
    def withdraw_referral(self, request, caller, referral_id):
        body, key = json_body(request), idempotency_key(request)
        case_id = self.ask(self.referrals.case_of_referral, caller, referral_id)
        self.ask(self.cases.case_in_scope, caller, case_id)  # the case's caseworker or supervisor
        return respond(200, self.ask(self.referrals.withdraw, caller, referral_id, body, True, key))

    def _provider_action(self, request, caller, referral_id, action):
        body, key = json_body(request) or {}, idempotency_key(request)
        return respond(200, self.ask(self.referrals.act_as_provider, caller, referral_id, action, body, key))
