"""The gateway's settings, read once when its container starts (shared/settings.py, shared/configured.py);
every variable is listed in README.md ("Configuration")."""
from dataclasses import dataclass, field

from services.gateway.cors import CorsOrigins
from shared.settings import Environ, Settings, env, integer, number

DEFAULT_ADMIN_PASSWORD = "admin-change-me"  # logged as a warning when the first admin is created with it


@dataclass(frozen=True)
class GatewaySettings(Settings):
    rpc_timeout: float  # RPC_TIMEOUT_SECONDS: a call to a service is waited on this long (then 503), then expires
    request_timeout: float  # REQUEST_TIMEOUT_SECONDS: the deadline on a whole request (then 503)
    jwt_secret: str = field(repr=False)  # JWT_SECRET: signs access tokens (auth.py refuses one too short)
    access_token_seconds: int  # ACCESS_TOKEN_SECONDS (else TOKEN_TTL_SECONDS): an access token's life
    refresh_token_seconds: int  # REFRESH_TOKEN_SECONDS: a session unused this long ends
    login_failure_limit: int  # LOGIN_FAILURE_LIMIT: failed logins for an account before 429
    login_failure_window_seconds: int  # LOGIN_FAILURE_WINDOW_SECONDS: over how long they count
    login_address_failure_limit: int  # LOGIN_ADDRESS_FAILURE_LIMIT: failed logins from one client address
    admin_username: str  # ADMIN_USERNAME: the admin created on first start
    admin_password: str = field(repr=False)  # ADMIN_PASSWORD
    first_organisation_name: str  # FIRST_ORGANISATION_NAME: the organisation created on first start
    cors_origins: CorsOrigins  # CORS_ORIGINS: the web clients' origins (comma-separated)

    @classmethod
    def from_env(cls, environ: Environ | None = None) -> "GatewaySettings":
        rpc_timeout = number("RPC_TIMEOUT_SECONDS", 10, environ, positive=True)
        return cls(**Settings.for_service("gateway", environ).plumbing(),
                   rpc_timeout=rpc_timeout,
                   request_timeout=number("REQUEST_TIMEOUT_SECONDS", 2 * rpc_timeout, environ, positive=True),
                   jwt_secret=env("JWT_SECRET", None, environ),
                   access_token_seconds=integer("ACCESS_TOKEN_SECONDS",
                                                integer("TOKEN_TTL_SECONDS", 900, environ, minimum=1), environ,
                                                minimum=1),
                   refresh_token_seconds=integer("REFRESH_TOKEN_SECONDS", 43200, environ, minimum=1),
                   login_failure_limit=integer("LOGIN_FAILURE_LIMIT", 5, environ, minimum=1),
                   login_failure_window_seconds=integer("LOGIN_FAILURE_WINDOW_SECONDS", 900, environ, minimum=1),
                   login_address_failure_limit=integer("LOGIN_ADDRESS_FAILURE_LIMIT", 50, environ, minimum=1),
                   admin_username=env("ADMIN_USERNAME", "admin", environ),
                   admin_password=env("ADMIN_PASSWORD", DEFAULT_ADMIN_PASSWORD, environ),
                   first_organisation_name=env("FIRST_ORGANISATION_NAME", "First organisation", environ),
                   cors_origins=CorsOrigins.parse(env("CORS_ORIGINS", "", environ)))
