"""Settings from environment variables. Every variable is listed in README.md ("Configuration"),
under the service or tool that reads it (tests/unit/test_settings_readme.py checks both ways).

This module and each service's own `services/<service>/settings.py` are the only modules that read
the environment (tests/unit/test_settings_source.py checks shared/ and services/ alike). Each process
reads what it needs once, when it starts, into one frozen, typed object, and passes that object (or
a part of it) down:

- a service: its own settings class (`CasesSettings`, ...: a `Settings`, the plumbing every service
  has, with the service's own knobs added), read when its container starts (`of_service(container)`:
  one per running service, shared by its store, relay, projections, consumers, RPC entrypoints and
  proxies, timers, and its workers through `shared.configured.Configured`);
- the quarantine CLI: `QuarantineCliSettings`; `python -m shared.access`: `ProvisionSettings`;
  `python -m shared.secrets`: `SecretsSettings`; the audit CLI: `services.cases.settings.AuditCliSettings`;
  the /metrics response: `metrics_settings()` (once per process, as prometheus_client itself reads
  PROMETHEUS_MULTIPROC_DIR once, when imported).

`Settings.for_service`, a service's `<Service>Settings.from_env`, `AmqpTls.from_env` and
`CallerKeySettings.for_service` also serve tools and tests that build a store, a connection or keys by
hand: each reads the environment when it is called. A value that cannot be used (not a number, out of
range) is refused when it is read, with an error naming its variable."""
import dataclasses
import functools
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

Environ = Mapping[str, str]


def env(name: str, default: str | None = None, environ: Environ | None = None) -> str:
    """One variable: `default` when it is unset; without a default, a variable that is unset is an error."""
    value = (os.environ if environ is None else environ).get(name, default)
    if value is None:
        raise RuntimeError(f"environment variable {name} is required")
    return value


def integer(name: str, default: int, environ: Environ | None = None, minimum: int | None = None,
            maximum: int | None = None) -> int:
    """A whole number, `default` when unset; refused (naming the variable) when it is not one or is out of range."""
    text = env(name, str(default), environ).strip()
    try:
        value = int(text)
    except ValueError:
        raise RuntimeError(f"environment variable {name} must be a whole number") from None
    return _in_range(name, value, minimum, maximum)


def number(name: str, default: float, environ: Environ | None = None, minimum: float | None = None,
           positive: bool = False) -> float:
    """A number (seconds, mostly), `default` when unset; refused (naming the variable) when it is not a
    finite number, is below `minimum`, or is not above 0 where it must be (`positive`)."""
    text = env(name, str(default), environ).strip()
    try:
        value = float(text)
    except ValueError:
        raise RuntimeError(f"environment variable {name} must be a number") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise RuntimeError(f"environment variable {name} must be a finite number")
    if positive and value <= 0:
        raise RuntimeError(f"environment variable {name} must be more than 0")
    return _in_range(name, value, minimum, None)


def _in_range(name: str, value: Any, minimum: Any, maximum: Any) -> Any:
    if minimum is not None and value < minimum:
        raise RuntimeError(f"environment variable {name} must be at least {minimum}")
    if maximum is not None and value > maximum:
        raise RuntimeError(f"environment variable {name} must be at most {maximum}")
    return value


@dataclass(frozen=True)
class AmqpTls:
    """TLS to RabbitMQ, for an amqps:// URI (shared/bus.py): the CA the broker's certificate must chain
    to (empty: the system's CAs), and a client certificate and its key (empty: none)."""
    ca_file: str
    cert_file: str
    key_file: str

    @classmethod
    def from_env(cls, environ: Environ | None = None) -> "AmqpTls":
        return cls(ca_file=env("AMQP_CA_FILE", "", environ), cert_file=env("AMQP_CERT_FILE", "", environ),
                   key_file=env("AMQP_KEY_FILE", "", environ))


@dataclass(frozen=True)
class CallerKeySettings:
    """What shared/identity.py makes a service's `CallerKeys` of, as the environment gives it (base64)."""
    own_key: str  # <SERVICE>_CALLER_KEY; empty: the service can verify callers but call no one
    public_keys: str  # CALLER_PUBLIC_KEYS: service=base64,...
    token_seconds: float  # CALLER_TOKEN_SECONDS

    @classmethod
    def for_service(cls, service: str, environ: Environ | None = None) -> "CallerKeySettings":
        return cls(own_key=env(f"{service.upper()}_CALLER_KEY", "", environ).strip(),
                   public_keys=env("CALLER_PUBLIC_KEYS", "", environ),
                   token_seconds=number("CALLER_TOKEN_SECONDS", 30, environ, positive=True))


@dataclass(frozen=True)
class Settings:
    """What a service's shared plumbing needs: its store, the bus, its consumers, its keys."""
    service: str
    postgres_host: str
    postgres_port: int
    postgres_dbname: str
    postgres_user: str
    postgres_password: str
    postgres_schema: str
    postgres_pool_size: int
    postgres_max_overflow: int
    cipher_key: str
    amqp_uri: str
    relay_poll_seconds: float
    relay_batch_size: int
    follower_max_attempts: int
    postgres_connect_timeout: int
    amqp_tls: AmqpTls
    queue_type: str
    consumer_max_attempts: int
    consumer_retry_delay: float
    caller_keys: CallerKeySettings

    @classmethod
    def for_service(cls, service: str, environ: Environ | None = None) -> "Settings":
        prefix = service.upper()

        def get(name: str, default: str | None = None) -> str:
            return env(name, default, environ)

        return cls(
            service=service,
            postgres_host=get("POSTGRES_HOST", "127.0.0.1"),
            postgres_port=integer("POSTGRES_PORT", 54329, environ, minimum=1, maximum=65535),
            postgres_dbname=get("POSTGRES_DBNAME", "casetrail"),
            # Each service logs in as itself (scripts/stack.sh sets these per process).
            postgres_user=get("POSTGRES_USER", f"casetrail_{service}"),
            postgres_password=get("POSTGRES_PASSWORD", ""),
            postgres_schema=get(f"{prefix}_POSTGRES_SCHEMA", service),
            postgres_pool_size=integer("POSTGRES_POOL_SIZE", 5, environ, minimum=1),
            postgres_max_overflow=integer("POSTGRES_MAX_OVERFLOW", 10, environ, minimum=0),
            # Survivor data is encrypted at rest: a service refuses to start without its key.
            cipher_key=get(f"{prefix}_CIPHER_KEY"),
            amqp_uri=get("AMQP_URI", ""),  # each service's own login; required where it publishes
            relay_poll_seconds=number("RELAY_POLL_SECONDS", 1.0, environ, positive=True),
            relay_batch_size=integer("RELAY_BATCH_SIZE", 100, environ, minimum=1),
            # How often a follower tries an event before it sets it aside (shared/quarantine.py).
            follower_max_attempts=integer("FOLLOWER_MAX_ATTEMPTS", 5, environ, minimum=1),
            # How long to wait for a database connection: with the database down, fail (503), not hang.
            postgres_connect_timeout=integer("POSTGRES_CONNECT_TIMEOUT", 5, environ, minimum=1),
            amqp_tls=AmqpTls.from_env(environ),
            # classic, or quorum on a RabbitMQ cluster (shared/consumer.py checks it where it declares).
            queue_type=get("QUEUE_TYPE", "classic"),
            consumer_max_attempts=integer("CONSUMER_MAX_ATTEMPTS", 8, environ, minimum=1),
            consumer_retry_delay=number("CONSUMER_RETRY_DELAY", 0.5, environ, positive=True),
            caller_keys=CallerKeySettings.for_service(service, environ),
        )

    def plumbing(self) -> dict[str, Any]:
        """The fields every service has, to build a service's own settings (a subclass) from."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(Settings)}


def of_service(container) -> Settings:
    """The settings of a running service (a nameko container): read once, when the first of its
    extensions sets up, then kept on the container for all of them. A container started later (a
    test's) reads them anew. (Extensions hold their container through a weak proxy: kept on it, not
    in a mapping keyed by it.)

    A service that declares its own settings class (`settings = Configured(CasesSettings)`,
    shared/configured.py) gets an instance of it, read by its `from_env()`; any other service (a test's)
    gets the plumbing alone."""
    settings = getattr(container, "casetrail_settings", None)
    if settings is None:
        declared = declared_settings_class(getattr(container, "service_cls", None))
        settings = declared.from_env() if declared else Settings.for_service(container.service_name)
        container.casetrail_settings = settings
    return settings


def declared_settings_class(service_cls) -> Any:
    """The settings class a nameko service class declares through an attribute that names one
    (`settings_class`: shared/configured.py's `Configured`), or None."""
    for klass in getattr(service_cls, "__mro__", ()):
        for value in vars(klass).values():
            declared = getattr(value, "settings_class", None)
            if isinstance(declared, type) and issubclass(declared, Settings):
                return declared
    return None


@dataclass(frozen=True)
class QuarantineCliSettings:
    """casetrail-quarantine (shared/quarantine_cli.py): its own database login, each service's schema,
    and its broker login (needed only to hand a bus event back)."""
    postgres_host: str
    postgres_port: int
    postgres_dbname: str
    postgres_user: str
    postgres_password: str
    schemas: Mapping[str, str]  # service -> <SERVICE>_POSTGRES_SCHEMA
    amqp_uri: str | None  # AMQP_URI; None when unset
    amqp_tls: AmqpTls

    @classmethod
    def from_env(cls, services: Iterable[str], environ: Environ | None = None) -> "QuarantineCliSettings":
        source = os.environ if environ is None else environ
        return cls(postgres_host=env("POSTGRES_HOST", "127.0.0.1", environ),
                   postgres_port=integer("POSTGRES_PORT", 54329, environ, minimum=1, maximum=65535),
                   postgres_dbname=env("POSTGRES_DBNAME", "casetrail", environ),
                   postgres_user=env("POSTGRES_USER", "casetrail_quarantine", environ),  # its own login
                   postgres_password=env("POSTGRES_PASSWORD", "", environ),
                   schemas=postgres_schemas(services, environ), amqp_uri=source.get("AMQP_URI"),
                   amqp_tls=AmqpTls.from_env(environ))

    def require_amqp_uri(self) -> str:
        if self.amqp_uri is None:
            raise RuntimeError("environment variable AMQP_URI is required")
        return self.amqp_uri


def postgres_schemas(services: Iterable[str], environ: Environ | None = None) -> dict[str, str]:
    """Each service's schema: <SERVICE>_POSTGRES_SCHEMA, the service's name by default."""
    return {s: env(f"{s.upper()}_POSTGRES_SCHEMA", s, environ) for s in services}


@dataclass(frozen=True)
class ProvisionSettings:
    """`python -m shared.access` (scripts/stack.sh, the compose provision job): each service's schema,
    and the passwords the secrets file gives each login (by variable: CASES_DB_PASSWORD, ...)."""
    schemas: Mapping[str, str]
    passwords: Mapping[str, str]  # the ones that are set

    @classmethod
    def from_env(cls, services: Iterable[str], password_variables: Iterable[str],
                 environ: Environ | None = None) -> "ProvisionSettings":
        source = os.environ if environ is None else environ
        return cls(schemas=postgres_schemas(services, environ),
                   passwords={name: source[name] for name in password_variables if name in source})

    def password(self, variable: str) -> str:
        try:
            return self.passwords[variable]
        except KeyError:
            raise RuntimeError(f"environment variable {variable} is required") from None


@dataclass(frozen=True)
class MigrationCliSettings:
    """`python -m shared.migrations` (make migrations): a service's store, and the service's own login,
    which owns its schema: <SERVICE>_DB_USER (else POSTGRES_USER, else casetrail_<service>) and
    <SERVICE>_DB_PASSWORD (else POSTGRES_PASSWORD), so one run can reach every service's schema."""
    service: str
    postgres_host: str
    postgres_port: int
    postgres_dbname: str
    postgres_user: str
    postgres_password: str
    postgres_schema: str
    postgres_connect_timeout: int

    @classmethod
    def for_service(cls, service: str, environ: Environ | None = None) -> "MigrationCliSettings":
        prefix = service.upper()
        return cls(service=service, postgres_host=env("POSTGRES_HOST", "127.0.0.1", environ),
                   postgres_port=int(env("POSTGRES_PORT", "54329", environ)),
                   postgres_dbname=env("POSTGRES_DBNAME", "casetrail", environ),
                   postgres_user=env(f"{prefix}_DB_USER", env("POSTGRES_USER", f"casetrail_{service}", environ),
                                     environ),
                   postgres_password=env(f"{prefix}_DB_PASSWORD", env("POSTGRES_PASSWORD", "", environ), environ),
                   postgres_schema=env(f"{prefix}_POSTGRES_SCHEMA", service, environ),
                   postgres_connect_timeout=int(env("POSTGRES_CONNECT_TIMEOUT", "5", environ)))


@dataclass(frozen=True)
class SecretsSettings:
    """`python -m shared.secrets`: the first admin's password, when the operator chose one (else generated)."""
    admin_password: str

    @classmethod
    def from_env(cls, environ: Environ | None = None) -> "SecretsSettings":
        return cls(admin_password=env("ADMIN_PASSWORD", "", environ))


@dataclass(frozen=True)
class MetricsSettings:
    """PROMETHEUS_MULTIPROC_DIR: set when several worker processes share one /metrics."""
    prometheus_multiproc_dir: str


    @classmethod
    def from_env(cls, environ: Environ | None = None) -> "MetricsSettings":
        return cls(prometheus_multiproc_dir=env("PROMETHEUS_MULTIPROC_DIR", "", environ))


@functools.cache
def metrics_settings() -> MetricsSettings:
    """Once per process: prometheus_client chooses its multiprocess mode from the same variable, once."""
    return MetricsSettings.from_env()
