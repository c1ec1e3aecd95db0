"""Prints installation secrets as KEY=value lines (`make up` keeps them in .run/).
With a file argument, prints only the secrets that file lacks, so an installation made
before a new secret existed gets it appended and keeps all the others.

    python -m shared.secrets FILE --per-service DIR --amqp-uri 'amqps://{login}:{password}@rabbitmq:5671/'

writes DIR/<service>.env for each service instead: only what that service may hold (`own`), and
its own logins (`POSTGRES_USER`, `POSTGRES_PASSWORD`, `AMQP_URI`). docker compose and Kubernetes
give each service that file alone."""
import argparse
import base64
import os
import secrets
import sys
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from eventsourcing.cryptography import AESCipher

from shared import identity
from shared.access import BROKER_IDENTITIES, DATABASE_IDENTITIES, password_key
from shared.settings import SecretsSettings

SERVICES = ("cases", "referrals", "approvals", "notifications", "gateway")


def generate(admin_password: str = "") -> dict[str, str]:
    """Every secret, new; the first admin's password is `admin_password` when one is given."""
    values = {f"{s.upper()}_CIPHER_KEY": AESCipher.create_key(32) for s in SERVICES}
    # Wraps the per-case keys that seal survivor identifying fields.
    values["CASES_MASTER_KEY"] = base64.b64encode(os.urandom(32)).decode()
    values["JWT_SECRET"] = secrets.token_urlsafe(48)
    # Signs audit bundles and checkpoints; `python -m services.cases.attestation rotate-key` replaces it.
    values["AUDIT_SIGNING_KEY"] = base64.b64encode(Ed25519PrivateKey.generate().private_bytes_raw()).decode()
    values["ADMIN_PASSWORD"] = admin_password or secrets.token_urlsafe(12)
    # Each service's key for signing who its RPC callers are, and their public halves (shared/identity.py).
    values.update(identity.generate(SERVICES))
    # Each service's and CLI's own logins to PostgreSQL and RabbitMQ (shared/access.py); URL-safe, so
    # they go into an AMQP URI as they are.
    for name in DATABASE_IDENTITIES:
        values[password_key(name, "DB")] = secrets.token_urlsafe(32)
    for name in BROKER_IDENTITIES:
        values[password_key(name, "AMQP")] = secrets.token_urlsafe(32)
    return values


def missing_from(path: Path, admin_password: str = "") -> dict[str, str]:
    lines = path.read_text().splitlines() if path.exists() else []
    present = {line.split("=", 1)[0] for line in lines if "=" in line}
    fresh = generate(admin_password)
    missing = {key: value for key, value in fresh.items() if key not in present}
    if any(key in missing for key in _CALLER_KEYS):  # a set that only works whole: given whole (later lines win)
        missing.update({key: fresh[key] for key in _CALLER_KEYS})
    return missing


_CALLER_KEYS = (*(f"{s.upper()}_CALLER_KEY" for s in SERVICES), "CALLER_PUBLIC_KEYS")


def own(service: str, key: str) -> bool:
    """Whether a service holds this secret: its own keys (its cipher and caller keys, its logins'
    passwords); the cases service its master and audit keys; the gateway the token secret and the
    first admin's password; every service the public halves of the caller keys. Nothing else."""
    if key == "CALLER_PUBLIC_KEYS" or key.startswith(f"{service.upper()}_"):
        return True
    if key in ("AUDIT_SIGNING_KEY", "AUDIT_RETIRED_PUBLIC_KEYS"):
        return service == "cases"
    if key in ("JWT_SECRET", "ADMIN_PASSWORD"):
        return service == "gateway"
    return False


def for_service(service: str, values: dict[str, str], amqp_uri: str) -> dict[str, str]:
    """What one service process is given: its own secrets and its own logins. `amqp_uri` is a
    template with {login} and {password}."""
    from shared.access import identity
    login = identity("casetrail", service)
    return {**{key: value for key, value in values.items() if own(service, key)},
            "POSTGRES_USER": login, "POSTGRES_PASSWORD": values[password_key(service, "DB")],
            "AMQP_URI": amqp_uri.format(login=login, password=values[password_key(service, "AMQP")])}


def read(path: Path) -> dict[str, str]:
    """A secrets file's values; a key given twice keeps its last value, as the shell reads it."""
    return dict(line.split("=", 1) for line in path.read_text().splitlines()
                if "=" in line and not line.startswith("#"))


def write_per_service(values: dict[str, str], folder: Path, amqp_uri: str) -> None:
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    for service in SERVICES:
        path = folder / f"{service}.env"
        path.touch(mode=0o600)
        path.chmod(0o600)
        path.write_text("".join(f"{k}={v}\n" for k, v in for_service(service, values, amqp_uri).items()))


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m shared.secrets", description=__doc__.split("\n\n")[0])
    parser.add_argument("file", type=Path, nargs="?", help="the installation's secrets file")
    parser.add_argument("--per-service", type=Path, metavar="DIR", help="write DIR/<service>.env from FILE")
    parser.add_argument("--amqp-uri", default="pyamqp://{login}:{password}@127.0.0.1:5672/",
                        help="the AMQP URI template for --per-service, with {login} and {password}")
    parser.add_argument("--others", metavar="SERVICE", help="print the names in FILE that SERVICE must not hold")
    args = parser.parse_args(argv)
    if args.others:
        print("\n".join(key for key in read(args.file) if not own(args.others, key)))
        return 0
    if args.per_service:
        if args.file is None:
            parser.error("--per-service needs the secrets FILE")
        write_per_service(read(args.file), args.per_service, args.amqp_uri)
        return 0
    admin_password = SecretsSettings.from_env().admin_password  # the operator's choice, if any
    values = missing_from(args.file, admin_password) if args.file else generate(admin_password)
    for key, value in values.items():
        print(f"{key}={value}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
