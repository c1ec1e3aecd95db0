"""What every route of the gateway uses: the identity store, access tokens, sessions, the login
throttle, a proxy to each service, and the caller an access token stands for."""
import logging

from nameko.extensions import DependencyProvider

from services.gateway import policy
from services.gateway.application import Identity, public_event
from services.gateway.auth import Claims, LoginThrottle, PasswordChangeRequired, Sessions, Tokens, Unauthorized
from services.gateway.http import call, command_options, idempotency_key, json_body, respond
from services.gateway.idempotency import Answers, Scope
from services.gateway.queries import Callers, UserList
from services.gateway.settings import DEFAULT_ADMIN_PASSWORD, GatewaySettings
from shared.caller import Caller
from shared.configured import Configured
from shared.errors import NotFound
from shared.metrics import Observable
from shared.outbox import EventSourced
from shared.rpc import SignedRpcProxy
from shared.settings import of_service

log = logging.getLogger(__name__)


class WithFirstAdmin(EventSourced):
    """The identity store; on first start it creates the first organisation (issue 19), which every
    user but the admin joins unless another is named, and, with no admin, the admin."""

    def setup(self) -> None:
        # In setup, not start: nameko starts extensions concurrently, and /health must not
        # answer before the admin exists.
        super().setup()
        settings: GatewaySettings = of_service(self.container)  # type: ignore[assignment]
        if self.store.ensure_first_organisation(settings.first_organisation_name):
            log.info("created the first organisation")
        username, password = settings.admin_username, settings.admin_password
        default = password == DEFAULT_ADMIN_PASSWORD
        if self.store.ensure_admin(username, password, must_change=default) and default:
            log.warning("created admin %r with the default password: it must be changed at the first login"
                        " (POST /v1/users/me/password)", username)


class AccessTokens(DependencyProvider):
    def setup(self) -> None:
        settings: GatewaySettings = of_service(self.container)  # type: ignore[assignment]
        self.tokens = Tokens(settings.jwt_secret, settings.access_token_seconds)

    def get_dependency(self, worker_ctx) -> Tokens:
        return self.tokens


class Gateway(Observable):
    settings: GatewaySettings = Configured(GatewaySettings)
    identity: Identity = WithFirstAdmin(Identity, publication=public_event, projections=(UserList(),))
    # A request the client was told timed out (503) must not run later: each call is waited on for
    # RPC_TIMEOUT_SECONDS and expires in the queue after it.
    cases = SignedRpcProxy("cases", deadline="rpc_timeout")
    approvals = SignedRpcProxy("approvals", deadline="rpc_timeout")
    referrals = SignedRpcProxy("referrals", deadline="rpc_timeout")
    notifications = SignedRpcProxy("notifications", deadline="rpc_timeout")
    tokens: Tokens = AccessTokens()

    @property
    def sessions(self) -> Sessions:
        return Sessions(self.identity, self.settings.refresh_token_seconds)

    @property
    def answers(self) -> Answers:
        return Answers(self.identity, self.settings.cipher_key, self.settings.request_timeout)

    def once(self, request, scope: Scope, run, *request_parts):
        """`run()`'s response, or, for a retry with the same Idempotency-Key, the first request's (for
        the routes the gateway answers itself; each service remembers its own). The request is its
        method, its path and `request_parts` (its body, as read)."""
        return self.answers.once(scope, idempotency_key(request), [request.method, request.path, *request_parts],
                                 run)

    @property
    def throttle(self) -> LoginThrottle:
        return LoginThrottle(self.identity, self.settings.login_failure_limit,
                             self.settings.login_failure_window_seconds, self.settings.login_address_failure_limit)

    def caller_for(self, request, correlation_id: str) -> Caller:
        """The caller an access token stands for (http.route gives it to every route that needs a login):
        a token whose session ended (logout, deactivation, a change of role or supervisor, a password
        changed or reset) is refused on every instance at once, and so is an inactive user's."""
        claims = self.bearer_claims(request)
        if not self.sessions.active(claims.session_id, claims.username):
            raise Unauthorized("The access token is invalid or expired.")
        caller = Callers(self.identity).caller(claims.username, correlation_id, claims.session_id)
        if caller is None:
            raise Unauthorized("The access token is invalid or expired.")
        if caller.extra["password_change_required"] and not policy.may_before_password_change(
                request.method, request.path):
            raise PasswordChangeRequired("Your password was reset: set a new one first (POST /v1/users/me/password).")
        return caller

    def bearer_claims(self, request) -> Claims:
        """What the access token says (signed, not expired), whether or not its session still lives."""
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise Unauthorized("Send 'Authorization: Bearer <token>'.")
        return self.tokens.read(token.strip())

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
        """A service's answer, or 503 when it gives none in time (its proxy's deadline: RPC_TIMEOUT_SECONDS)."""
        return call(method, *args)

    def case_command(self, request, caller: Caller, case_id: str, command, status: int, body: bool = True,
                     read: dict | None = None):
        """`command`: the cases service's method (self.cases.<name>); the case's version as ETag. `read`: the
        body when the route has read it already."""
        args = ((read if read is not None else json_body(request)),) if body else ()
        result = self.ask(command, caller, case_id, *args, command_options(request))
        headers = {"ETag": f'"{result["version"]}"'} if "case_number" in result else None
        return respond(status, result, headers)
