"""The gateway: the only door for web and mobile clients (../shared/api.md)."""
import logging

from nameko.extensions import DependencyProvider
from nameko.rpc import RpcProxy
from nameko.web.handlers import http

from services.gateway.application import IdentityStore, LoginThrottle, Tokens, Unauthorized
from services.gateway.http import call, json_body, respond, route
from services.gateway.openapi import OPENAPI
from services.gateway.schemas import CaseListQuerySchema, CreateUserSchema, TokenRequestSchema
from shared.errors import Forbidden, NotFound
from shared.metrics import WorkerMetrics, metrics_response
from shared.outbox import EventSourced
from shared.settings import env
from shared.validation import load

log = logging.getLogger(__name__)

# A request the client was told timed out (503) must not run later: it expires in the queue.
RPC_TIMEOUT = float(env("RPC_TIMEOUT_SECONDS", "10"))


class Identity(EventSourced):
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


def user_view(user) -> dict:
    return {"id": str(user.id), "username": user.username, "role": user.role,
            "display_name": user.display_name, "supervisor": user.supervisor,
            "provider_id": str(user.provider_id) if user.provider_id else None, "email": user.email}


class GatewayService:
    name = "gateway"
    identity: IdentityStore = Identity(IdentityStore)
    cases = RpcProxy("cases", expiration=RPC_TIMEOUT)
    metrics = WorkerMetrics()
    tokens: Tokens = AccessTokens()
    throttle = LoginThrottle()

    def caller_for(self, request, correlation_id: str) -> dict:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise Unauthorized("Send 'Authorization: Bearer <token>'.")
        user = self.identity.user(self.tokens.username(token.strip()))
        if user is None:
            raise Unauthorized("The access token is invalid or expired.")
        return {"username": user.username, "role": user.role, "team": list(user.team),
                "correlation_id": correlation_id}

    @http("GET", "/health")
    def health(self, request):
        return respond(200, {"status": "ok"})

    @http("GET", "/metrics")
    def metrics_endpoint(self, request):
        return metrics_response()

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
        return respond(200, {"access_token": self.tokens.issue(user), "token_type": "bearer",
                             "expires_in": self.tokens.ttl_seconds})

    @route("POST", "/v1/users")
    def create_user(self, request, caller):
        if caller["role"] != "admin":
            raise Forbidden("Only an admin creates users.")
        user = self.identity.create_user(caller, load(CreateUserSchema(), json_body(request)))
        return respond(201, user_view(user))

    @route("GET", "/v1/users/me")
    def me(self, request, caller):
        return respond(200, user_view(self.identity.user(caller["username"])))

    @route("POST", "/v1/cases")
    def register_case(self, request, caller):
        case = call(self.cases.register_case, caller, json_body(request),
                    request.headers.get("Idempotency-Key"), timeout=RPC_TIMEOUT)
        return respond(201, case, {"ETag": f'"{case["version"]}"', "Location": f"/v1/cases/{case['id']}"})

    @route("GET", "/v1/cases")
    def list_cases(self, request, caller):
        query = load(CaseListQuerySchema(), request.args.to_dict())
        return respond(200, call(self.cases.list_cases, caller, query, timeout=RPC_TIMEOUT))

    @route("GET", "/v1/cases/<string:case_id>")
    def get_case(self, request, caller, case_id):
        case = call(self.cases.get_case, caller, case_id, timeout=RPC_TIMEOUT)
        return respond(200, case, {"ETag": f'"{case["version"]}"'})

    @route("GET", "/<path:path>", authenticated=False)
    def unknown_get(self, request, path):
        raise NotFound("No such resource.")

    @route("POST", "/<path:path>", authenticated=False)
    def unknown_post(self, request, path):
        raise NotFound("No such resource.")
