"""Settings from environment variables. Every knob is listed in README.md."""
import os
from dataclasses import dataclass


def env(name: str, default: str | None = None) -> str:
    value = os.environ.get(name, default)
    if value is None:
        raise RuntimeError(f"environment variable {name} is required")
    return value


@dataclass(frozen=True)
class Settings:
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

    @classmethod
    def for_service(cls, service: str) -> "Settings":
        prefix = service.upper()
        return cls(
            service=service,
            postgres_host=env("POSTGRES_HOST", "127.0.0.1"),
            postgres_port=int(env("POSTGRES_PORT", "54329")),
            postgres_dbname=env("POSTGRES_DBNAME", "casetrail"),
            # Each service logs in as itself (scripts/stack.sh sets these per process).
            postgres_user=env("POSTGRES_USER", f"casetrail_{service}"),
            postgres_password=env("POSTGRES_PASSWORD", ""),
            postgres_schema=env(f"{prefix}_POSTGRES_SCHEMA", service),
            postgres_pool_size=int(env("POSTGRES_POOL_SIZE", "5")),
            postgres_max_overflow=int(env("POSTGRES_MAX_OVERFLOW", "10")),
            # Survivor data is encrypted at rest: a service refuses to start without its key.
            cipher_key=env(f"{prefix}_CIPHER_KEY"),
            amqp_uri=env("AMQP_URI", ""),  # each service's own login; required where it publishes
            relay_poll_seconds=float(env("RELAY_POLL_SECONDS", "1.0")),
            relay_batch_size=int(env("RELAY_BATCH_SIZE", "100")),
            # How often a follower tries an event before it sets it aside (shared/quarantine.py).
            follower_max_attempts=int(env("FOLLOWER_MAX_ATTEMPTS", "5")),
        )
