"""What every route of the gateway uses: the identity store, access tokens, the login throttle, a
proxy to each service, and the caller an access token stands for."""
import logging

from nameko.extensions import DependencyProvider

from services.gateway.application import Identity, public_event
from services.gateway.auth import LoginThrottle, Tokens, Unauthorized
from services.gateway.http import call, command_options, json_body, respond
from services.gateway.queries import Callers
from shared.caller import Caller
from shared.metrics import Observable
from shared.outbox import EventSourced
from shared.rpc import SignedRpcProxy
from shared.settings import env

log = logging.getLogger(__name__)

# A request the client was told timed out (503) must not run later: it expires in the queue.
RPC_TIMEOUT = float(env("RPC_TIMEOUT_SECONDS", "10"))


class WithFirstAdmin(EventSourced):
    """The identity store; on first start with no admin, it creates one, and the first organisation
    (issue 19), which every user but the admin joins unless another is named."""

    def setup(self) -> None:
        # In setup, not start: nameko starts extensions concurrently, and /health must not
        # answer before the admin exists.
        super().setup()
        if self.store.ensure_first_organisation(env("FIRST_ORGANISATION_NAME", "First organisation")):
            log.info("created the first organisation")
        username = env("ADMIN_USERNAME", "admin")
        password = env("ADMIN_PASSWORD", "admin-change-me")
        if self.store.ensure_admin(username, password) and password == "admin-change-me":
            log.warning("created admin %r with the default password: change it", username)


class AccessTokens(DependencyProvider):
    def setup(self) -> None:
        self.tokens = Tokens(env("JWT_SECRET"), int(env("TOKEN_TTL_SECONDS", "3600")))

    def get_dependency(self, worker_ctx) -> Tokens:
        return self.tokens


class Gateway(Observable):
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

    @staticmethod
    def ask(method, *args):
        """A service's answer, or 503 when it gives none in time."""
        return call(method, *args, timeout=RPC_TIMEOUT)

    def case_command(self, request, caller: Caller, case_id: str, command, status: int, body: bool = True):
        """`command`: the cases service's method (self.cases.<name>); the case's version as ETag."""
        args = (json_body(request),) if body else ()
        result = self.ask(command, caller, case_id, *args, command_options(request))
        headers = {"ETag": f'"{result["version"]}"'} if "case_number" in result else None
        return respond(status, result, headers)
