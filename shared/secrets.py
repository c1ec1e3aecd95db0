"""Prints installation secrets as KEY=value lines (`make up` keeps them in .run/).
With a file argument, prints only the secrets that file lacks, so an installation made
before a new secret existed gets it appended and keeps all the others."""
import base64
import os
import secrets
import sys
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from eventsourcing.cryptography import AESCipher

from shared import identity
from shared.access import BROKER_IDENTITIES, DATABASE_IDENTITIES, password_key

SERVICES = ("cases", "referrals", "approvals", "notifications", "gateway")


def generate() -> dict[str, str]:
    values = {f"{s.upper()}_CIPHER_KEY": AESCipher.create_key(32) for s in SERVICES}
    # Wraps the per-case keys that seal survivor identifying fields.
    values["CASES_MASTER_KEY"] = base64.b64encode(os.urandom(32)).decode()
    values["JWT_SECRET"] = secrets.token_urlsafe(48)
    # Signs audit bundles and checkpoints; `python -m services.cases.attestation rotate-key` replaces it.
    values["AUDIT_SIGNING_KEY"] = base64.b64encode(Ed25519PrivateKey.generate().private_bytes_raw()).decode()
    values["ADMIN_PASSWORD"] = os.environ.get("ADMIN_PASSWORD") or secrets.token_urlsafe(12)
    # Each service's key for signing who its RPC callers are, and their public halves (shared/identity.py).
    values.update(identity.generate(SERVICES))
    # Each service's and CLI's own logins to PostgreSQL and RabbitMQ (shared/access.py); URL-safe, so
    # they go into an AMQP URI as they are.
    for name in DATABASE_IDENTITIES:
        values[password_key(name, "DB")] = secrets.token_urlsafe(32)
    for name in BROKER_IDENTITIES:
        values[password_key(name, "AMQP")] = secrets.token_urlsafe(32)
    return values


def missing_from(path: Path) -> dict[str, str]:
    present = {line.split("=", 1)[0] for line in path.read_text().splitlines() if "=" in line} if path.exists() else set()
    fresh = generate()
    missing = {key: value for key, value in fresh.items() if key not in present}
    if any(key in missing for key in _CALLER_KEYS):  # a set that only works whole: given whole (later lines win)
        missing.update({key: fresh[key] for key in _CALLER_KEYS})
    return missing


_CALLER_KEYS = (*(f"{s.upper()}_CALLER_KEY" for s in SERVICES), "CALLER_PUBLIC_KEYS")


if __name__ == "__main__":
    values = missing_from(Path(sys.argv[1])) if len(sys.argv) > 1 else generate()
    for key, value in values.items():
        print(f"{key}={value}")
