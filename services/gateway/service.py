"""The gateway: the only door for web and mobile clients (../shared/api.md). Each route parses the
request, has the gateway's policy decide what the gateway decides (administration), calls a use case
or the service that owns the resource (with the caller it proved), and maps the answer to HTTP."""
import logging

import rfc8785
from nameko.extensions import DependencyProvider
from werkzeug.wrappers import Response

from services.gateway import policy, views
from services.gateway.application import Identity, public_event
from services.gateway.auth import LoginThrottle, Tokens, Unauthorized
from services.gateway.http import (call, command_options, idempotency_key, json_body, refuse_unknown_route, respond,
                                   route, unknown_routes)
from services.gateway.openapi import OPENAPI
from services.gateway.policy import Administration
from services.gateway.queries import Callers
from services.gateway.schemas import (ApprovalQuerySchema, CaseListQuerySchema, CaseQuerySchema, CreateUserSchema,
                                      InboxQuerySchema, PageQuerySchema, PreferencesSchema, ProviderQuerySchema,
                                      TokenRequestSchema)
from shared.caller import Caller
from shared.metrics import Observable
from shared.outbox import EventSourced
from shared.rpc import SignedRpcProxy
from shared.settings import env
from shared.validation import clean, load

log = logging.getLogger(__name__)

# A request the client was told timed out (503) must not run later: it expires in the queue.
RPC_TIMEOUT = float(env("RPC_TIMEOUT_SECONDS", "10"))


class WithFirstAdmin(EventSourced):
    """The identity store; on first start with no admin, it creates one."""

    def setup(self) -> None:
        # In setup, not start: nameko starts extensions concurrently, and /health must not
        # answer before the admin exists.
        super().setup()
        username = env("ADMIN_USERNAME", "admin")
        password = env("ADMIN_PASSWORD", "admin-change-me")
        if self.store.ensure_admin(username, password) and password == "admin-change-me":
            log.warning("created admin %r with the default password: change it", username)


class AccessTokens(DependencyProvider):
    def setup(self) -> None:
        self.tokens = Tokens(env("JWT_SECRET"), int(env("TOKEN_TTL_SECONDS", "3600")))

    def get_dependency(self, worker_ctx) -> Tokens:
        return self.tokens


class GatewayService(Observable):
    name = "gateway"
    identity: Identity = WithFirstAdmin(Identity, publication=public_event)
    cases = SignedRpcProxy("cases", expiration=RPC_TIMEOUT)
    approvals = SignedRpcProxy("approvals", expiration=RPC_TIMEOUT)
    referrals = SignedRpcProxy("referrals", expiration=RPC_TIMEOUT)
    notifications = SignedRpcProxy("notifications", expiration=RPC_TIMEOUT)
    tokens: Tokens = AccessTokens()
    throttle = LoginThrottle()

    def caller_for(self, request, correlation_id: str) -> Caller:
        """The caller an access token stands for (http.route gives it to every route that needs a login)."""
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise Unauthorized("Send 'Authorization: Bearer <token>'.")
        caller = Callers(self.identity).caller(self.tokens.username(token.strip()), correlation_id)
        if caller is None:
            raise Unauthorized("The access token is invalid or expired.")
        return caller

    @route("GET", "/v1/openapi.json", authenticated=False)
    def openapi(self, request):
        return respond(200, OPENAPI)

    @route("POST", "/v1/auth/token", authenticated=False)
    def token(self, request):
        credentials = load(TokenRequestSchema(), json_body(request))
        self.throttle.check(credentials["username"])
        user = self.identity.authenticate(credentials["username"], credentials["password"])
        if user is None:
            self.throttle.failed(credentials["username"])
            raise Unauthorized("Wrong username or password.")
        self.throttle.succeeded(credentials["username"])
        return respond(200, views.token(self.tokens.issue(user), self.tokens.ttl_seconds))

    @route("POST", "/v1/users")
    def create_user(self, request, caller):
        policy.check(caller, Administration.CREATE_USER)
        user = self.identity.create_user(caller, clean(CreateUserSchema(), json_body(request)))
        return respond(201, views.user(user))

    @route("GET", "/v1/users/me")
    def me(self, request, caller):
        return respond(200, views.user(self.identity.user(caller.username)))

    @route("PUT", "/v1/users/me/preferences")
    def set_preferences(self, request, caller):
        user = self.identity.set_preferences(caller, load(PreferencesSchema(), json_body(request)))
        return respond(200, views.user(user))

    @route("POST", "/v1/cases")
    def register_case(self, request, caller):
        case = call(self.cases.register_case, caller, json_body(request),
                    idempotency_key(request), timeout=RPC_TIMEOUT)
        return respond(201, case, {"ETag": f'"{case["version"]}"', "Location": f"/v1/cases/{case['id']}"})

    @route("GET", "/v1/cases", query=CaseListQuerySchema)
    def list_cases(self, request, caller, query):
        return respond(200, call(self.cases.list_cases, caller, query, timeout=RPC_TIMEOUT))

    @route("GET", "/v1/cases/<string:case_id>", query=CaseQuerySchema)
    def get_case(self, request, caller, case_id, query):
        case = call(self.cases.get_case, caller, case_id, query, timeout=RPC_TIMEOUT)
        return respond(200, case, {"ETag": f'"{case["version"]}"'})

    @route("GET", "/v1/cases/<string:case_id>/history", query=PageQuerySchema)
    def case_history(self, request, caller, case_id, query):
        return respond(200, call(self.cases.case_history, caller, case_id, query, timeout=RPC_TIMEOUT))

    @route("GET", "/v1/cases/<string:case_id>/verify")
    def verify_case(self, request, caller, case_id):
        return respond(200, call(self.cases.verify_case, caller, case_id, timeout=RPC_TIMEOUT))

    @route("GET", "/v1/cases/<string:case_id>/export")
    def export_case(self, request, caller, case_id):
        bundle = call(self.cases.export_case, caller, case_id, timeout=RPC_TIMEOUT)
        # Canonical JSON (RFC 8785) as sent: what was signed, byte for byte, for tools that check it so.
        return Response(rfc8785.dumps(bundle), status=200, content_type="application/json")

    @route("GET", "/v1/audit/public-key")
    def audit_public_key(self, request, caller):
        return respond(200, call(self.cases.audit_public_keys, caller, timeout=RPC_TIMEOUT))

    @route("POST", "/v1/cases/<string:case_id>/erase")
    def erase_case(self, request, caller, case_id):
        return self._case_command(request, caller, case_id, self.cases.erase_case, 200)

    @route("POST", "/v1/cases/<string:case_id>/consent")
    def record_consent(self, request, caller, case_id):
        return self._case_command(request, caller, case_id, self.cases.record_consent, 201, body=True)

    @route("POST", "/v1/cases/<string:case_id>/consent/withdraw")
    def withdraw_consent(self, request, caller, case_id):
        return self._case_command(request, caller, case_id, self.cases.withdraw_consent, 200, body=False)

    @route("POST", "/v1/cases/<string:case_id>/assessment")
    def assess(self, request, caller, case_id):
        return self._case_command(request, caller, case_id, self.cases.assess, 200)

    @route("PUT", "/v1/cases/<string:case_id>/plan")
    def draft_plan(self, request, caller, case_id):
        return self._case_command(request, caller, case_id, self.cases.draft_plan, 200)

    @route("POST", "/v1/cases/<string:case_id>/plan/submit")
    def submit_plan(self, request, caller, case_id):
        return self._case_command(request, caller, case_id, self.cases.submit_plan, 202, body=False)

    @route("POST", "/v1/cases/<string:case_id>/follow-ups")
    def record_follow_up(self, request, caller, case_id):
        return self._case_command(request, caller, case_id, self.cases.record_follow_up, 201)

    @route("POST", "/v1/cases/<string:case_id>/conferences")
    def hold_conference(self, request, caller, case_id):
        return self._case_command(request, caller, case_id, self.cases.hold_conference, 201)

    @route("POST", "/v1/cases/<string:case_id>/closure")
    def request_closure(self, request, caller, case_id):
        return self._case_command(request, caller, case_id, self.cases.request_closure, 202)

    @route("POST", "/v1/cases/<string:case_id>/reopen")
    def reopen(self, request, caller, case_id):
        return self._case_command(request, caller, case_id, self.cases.reopen, 200)

    @route("POST", "/v1/cases/<string:case_id>/reassign")
    def reassign(self, request, caller, case_id):
        return self._case_command(request, caller, case_id, self.cases.reassign, 200)

    @route("POST", "/v1/cases/<string:case_id>/feedback")
    def give_feedback(self, request, caller, case_id):
        return self._case_command(request, caller, case_id, self.cases.give_feedback, 201)

    @route("GET", "/v1/notifications", query=InboxQuerySchema)
    def notifications_list(self, request, caller, query):
        return respond(200, call(self.notifications.inbox, caller, query, timeout=RPC_TIMEOUT))

    @route("POST", "/v1/notifications/<string:notification_id>/read")
    def read_notification(self, request, caller, notification_id):
        return respond(200, call(self.notifications.mark_read, caller, notification_id, timeout=RPC_TIMEOUT))

    @route("POST", "/v1/webhooks")
    def register_webhook(self, request, caller):
        policy.check(caller, Administration.REGISTER_WEBHOOK)
        return respond(201, call(self.notifications.register_webhook, caller, json_body(request),
                                 idempotency_key(request), timeout=RPC_TIMEOUT))

    @route("GET", "/v1/webhooks", query=PageQuerySchema)
    def webhook_list(self, request, caller, query):
        policy.check(caller, Administration.LIST_WEBHOOKS)
        return respond(200, call(self.notifications.webhook_list, caller, query, timeout=RPC_TIMEOUT))

    @route("DELETE", "/v1/webhooks/<string:webhook_id>")
    def delete_webhook(self, request, caller, webhook_id):
        policy.check(caller, Administration.DELETE_WEBHOOK)
        call(self.notifications.delete_webhook, caller, webhook_id, timeout=RPC_TIMEOUT)
        return Response(status=204)

    @route("GET", "/v1/webhooks/<string:webhook_id>/deliveries")
    def webhook_deliveries(self, request, caller, webhook_id):
        return respond(200, call(self.notifications.webhook_deliveries, caller, webhook_id, timeout=RPC_TIMEOUT))

    @route("GET", "/v1/approvals", query=ApprovalQuerySchema)
    def approval_queue(self, request, caller, query):
        return respond(200, call(self.approvals.queue, caller, query, timeout=RPC_TIMEOUT))

    @route("POST", "/v1/approvals/<string:approval_id>/decision")
    def decide(self, request, caller, approval_id):
        return respond(200, call(self.approvals.decide, caller, approval_id, json_body(request),
                                 idempotency_key(request), timeout=RPC_TIMEOUT))

    @route("GET", "/v1/approval-policy")
    def approval_policy(self, request, caller):
        return respond(200, call(self.approvals.get_policy, caller, timeout=RPC_TIMEOUT))

    @route("PUT", "/v1/approval-policy")
    def set_approval_policy(self, request, caller):
        policy.check(caller, Administration.SET_APPROVAL_POLICY)
        return respond(200, call(self.approvals.set_policy, caller, json_body(request), timeout=RPC_TIMEOUT))

    @route("POST", "/v1/providers")
    def register_provider(self, request, caller):
        policy.check(caller, Administration.REGISTER_PROVIDER)
        return respond(201, call(self.referrals.register_provider, caller, json_body(request),
                                 idempotency_key(request), timeout=RPC_TIMEOUT))

    @route("GET", "/v1/providers", query=ProviderQuerySchema)
    def providers(self, request, caller, query):
        return respond(200, call(self.referrals.providers, caller, query, timeout=RPC_TIMEOUT))

    @route("POST", "/v1/cases/<string:case_id>/referrals")
    def make_referral(self, request, caller, case_id):
        body, key = json_body(request), idempotency_key(request)
        case = call(self.cases.case_in_scope, caller, case_id, "refer", timeout=RPC_TIMEOUT)  # 404, 409
        # The referrals service decides with its own policy; the cases service's answer only vouches
        # for a case it has not heard of yet.
        referral = call(self.referrals.make_referral, caller, case["id"], case["case_number"], body, key, True,
                        timeout=RPC_TIMEOUT)
        return respond(201, referral)

    @route("GET", "/v1/cases/<string:case_id>/referrals")
    def referrals_of_case(self, request, caller, case_id):
        case = call(self.cases.case_in_scope, caller, case_id, timeout=RPC_TIMEOUT)
        return respond(200, call(self.referrals.referrals_of_case, caller, case["id"], True, timeout=RPC_TIMEOUT))

    @route("GET", "/v1/referrals")
    def referrals_list(self, request, caller):
        return respond(200, call(self.referrals.referrals, caller, timeout=RPC_TIMEOUT))

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
        body = json_body(request)
        case_id = call(self.referrals.case_of_referral, caller, referral_id, timeout=RPC_TIMEOUT)
        call(self.cases.case_in_scope, caller, case_id, timeout=RPC_TIMEOUT)  # the case's caseworker or supervisor
        return respond(200, call(self.referrals.withdraw, caller, referral_id, body, True, timeout=RPC_TIMEOUT))

    def _provider_action(self, request, caller, referral_id, action):
        body = json_body(request) or {}
        return respond(200, call(self.referrals.act_as_provider, caller, referral_id, action, body,
                                 timeout=RPC_TIMEOUT))

    def _case_command(self, request, caller, case_id, command, status, body=True):
        """`command`: the cases service's method (self.cases.<name>)."""
        args = (json_body(request),) if body else ()
        result = call(command, caller, case_id, *args, command_options(request), timeout=RPC_TIMEOUT)
        headers = {"ETag": f'"{result["version"]}"'} if "case_number" in result else None
        return respond(status, result, headers)

    @unknown_routes
    def unknown_route(self, request, path=""):
        refuse_unknown_route(type(self), request)
