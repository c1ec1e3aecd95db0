"""What every route of the gateway uses: the identity store, access tokens, sessions, the login
throttle, a proxy to each service, and the caller an access token stands for."""
import logging

from nameko.extensions import DependencyProvider

from services.gateway import policy
from services.gateway.application import Identity, public_event
from services.gateway.auth import LoginThrottle, PasswordChangeRequired, Sessions, Tokens, Unauthorized
from services.gateway.http import call, command_options, json_body, respond
from services.gateway.queries import Callers, UserList
from shared.caller import Caller
from shared.errors import NotFound
from shared.metrics import Observable
from shared.outbox import EventSourced
from shared.rpc import SignedRpcProxy
from shared.settings import env

log = logging.getLogger(__name__)

# A request the client was told timed out (503) must not run later: it expires in the queue.
RPC_TIMEOUT = float(env("RPC_TIMEOUT_SECONDS", "10"))
# Access tokens are short; a session lives on through its refresh token while it is used.
ACCESS_TOKEN_SECONDS = int(env("ACCESS_TOKEN_SECONDS", env("TOKEN_TTL_SECONDS", "900")))
REFRESH_TOKEN_SECONDS = int(env("REFRESH_TOKEN_SECONDS", "43200"))
LOGIN_FAILURE_LIMIT = int(env("LOGIN_FAILURE_LIMIT", "5"))
LOGIN_FAILURE_WINDOW_SECONDS = int(env("LOGIN_FAILURE_WINDOW_SECONDS", "900"))
LOGIN_ADDRESS_FAILURE_LIMIT = int(env("LOGIN_ADDRESS_FAILURE_LIMIT", "50"))


class WithFirstAdmin(EventSourced):
    """The identity store; on first start with no admin, it creates one."""

    def setup(self) -> None:
        # In setup, not start: nameko starts extensions concurrently, and /health must not
        # answer before the admin exists.
        super().setup()
        username = env("ADMIN_USERNAME", "admin")
        password = env("ADMIN_PASSWORD", "admin-change-me")
        default = password == "admin-change-me"
        if self.store.ensure_admin(username, password, must_change=default) and default:
            log.warning("created admin %r with the default password: it must be changed at the first login"
                        " (POST /v1/users/me/password)", username)


class AccessTokens(DependencyProvider):
    def setup(self) -> None:
        self.tokens = Tokens(env("JWT_SECRET"), ACCESS_TOKEN_SECONDS)

    def get_dependency(self, worker_ctx) -> Tokens:
        return self.tokens


class Gateway(Observable):
    identity: Identity = WithFirstAdmin(Identity, publication=public_event, projections=(UserList(),))
    cases = SignedRpcProxy("cases", expiration=RPC_TIMEOUT)
    approvals = SignedRpcProxy("approvals", expiration=RPC_TIMEOUT)
    referrals = SignedRpcProxy("referrals", expiration=RPC_TIMEOUT)
    notifications = SignedRpcProxy("notifications", expiration=RPC_TIMEOUT)
    tokens: Tokens = AccessTokens()

    @property
    def sessions(self) -> Sessions:
        return Sessions(self.identity, REFRESH_TOKEN_SECONDS)

    @property
    def throttle(self) -> LoginThrottle:
        return LoginThrottle(self.identity, LOGIN_FAILURE_LIMIT, LOGIN_FAILURE_WINDOW_SECONDS,
                             LOGIN_ADDRESS_FAILURE_LIMIT)

    def caller_for(self, request, correlation_id: str) -> Caller:
        """The caller an access token stands for (http.route gives it to every route that needs a login):
        a token whose session ended (logout, deactivation, a change of role or supervisor, a password
        changed or reset) is refused on every instance at once, and so is an inactive user's."""
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise Unauthorized("Send 'Authorization: Bearer <token>'.")
        claims = self.tokens.read(token.strip())
        if not self.sessions.active(claims.session_id, claims.username):
            raise Unauthorized("The access token is invalid or expired.")
        caller = Callers(self.identity).caller(claims.username, correlation_id, claims.session_id)
        if caller is None:
            raise Unauthorized("The access token is invalid or expired.")
        if caller.extra["password_change_required"] and not policy.may_before_password_change(
                request.method, request.path):
            raise PasswordChangeRequired("Your password was reset: set a new one first (POST /v1/users/me/password).")
        return caller

    def provider_exists(self, caller: Caller):
        """Whether the referral pathway has a provider with this id (the referrals service says)."""
        def exists(provider_id: str) -> bool:
            try:
                self.ask(self.referrals.provider, caller, provider_id)
            except NotFound:
                return False
            return True
        return exists

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
