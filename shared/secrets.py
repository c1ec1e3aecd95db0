"""Prints installation secrets as KEY=value lines (`make up` keeps them in .run/).
With a file argument, prints only the secrets that file lacks, so an installation made
before a new secret existed gets it appended and keeps all the others."""
import base64
import os
import secrets
import sys
from pathlib import Path

from eventsourcing.cryptography import AESCipher

SERVICES = ("cases", "referrals", "approvals", "notifications", "gateway")


def generate() -> dict[str, str]:
    values = {f"{s.upper()}_CIPHER_KEY": AESCipher.create_key(32) for s in SERVICES}
    # Wraps the per-case keys that seal survivor identifying fields.
    values["CASES_MASTER_KEY"] = base64.b64encode(os.urandom(32)).decode()
    values["JWT_SECRET"] = secrets.token_urlsafe(48)
    values["ADMIN_PASSWORD"] = os.environ.get("ADMIN_PASSWORD") or secrets.token_urlsafe(12)
    return values


def missing_from(path: Path) -> dict[str, str]:
    present = {line.split("=", 1)[0] for line in path.read_text().splitlines() if "=" in line} if path.exists() else set()
    return {key: value for key, value in generate().items() if key not in present}


if __name__ == "__main__":
    values = missing_from(Path(sys.argv[1])) if len(sys.argv) > 1 else generate()
    for key, value in values.items():
        print(f"{key}={value}")
