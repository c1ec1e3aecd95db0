"""Prints a fresh set of installation secrets as KEY=value lines (`make up` keeps them in .run/)."""
import os
import secrets

from eventsourcing.cryptography import AESCipher

SERVICES = ("cases", "referrals", "approvals", "notifications", "gateway")


def generate() -> dict[str, str]:
    values = {f"{s.upper()}_CIPHER_KEY": AESCipher.create_key(32) for s in SERVICES}
    values["JWT_SECRET"] = secrets.token_urlsafe(48)
    values["ADMIN_PASSWORD"] = os.environ.get("ADMIN_PASSWORD") or secrets.token_urlsafe(12)
    return values


if __name__ == "__main__":
    for key, value in generate().items():
        print(f"{key}={value}")
