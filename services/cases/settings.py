"""The cases service's settings, read once when its container starts (shared/settings.py,
shared/configured.py), and the audit CLI's (`casetrail-audit`, read once in its main()). Every variable
is listed in README.md ("Configuration")."""
import base64
import binascii
import os
from dataclasses import dataclass, field
from pathlib import Path

from services.cases.attestation import AuditKeys
from services.cases.keyring import MasterKeys, retired_keys
from shared.settings import Environ, Settings, env, number


def master_key(environ: Environ | None = None) -> bytes:
    """CASES_MASTER_KEY: 32 bytes, base64; it wraps every case's key."""
    try:
        key = base64.b64decode(env("CASES_MASTER_KEY", None, environ))
    except (binascii.Error, ValueError):
        key = b""
    if len(key) != 32:
        raise RuntimeError("CASES_MASTER_KEY must be 32 bytes, base64-encoded")
    return key


def retired_master_keys(environ: Environ | None = None) -> tuple[bytes, ...]:
    """CASES_RETIRED_MASTER_KEYS: comma-separated base64 keys that only unwrap (a rotation's old keys)."""
    return retired_keys(env("CASES_RETIRED_MASTER_KEYS", "", environ))


def directory(name: str, environ: Environ | None = None) -> Path | None:
    """A directory named by a variable; None when it is unset or empty."""
    value = env(name, "", environ).strip()
    return Path(value) if value else None


@dataclass(frozen=True)
class CasesSettings(Settings):
    master_key: bytes = field(repr=False)  # CASES_MASTER_KEY
    case_key_cache_seconds: float  # CASE_KEY_CACHE_SECONDS: an erasure reaches other instances within this
    case_number_prefix: str  # CASE_NUMBER_PREFIX: GBV-2026-000123
    audit_keys: AuditKeys = field(repr=False)  # AUDIT_SIGNING_KEY, AUDIT_RETIRED_PUBLIC_KEYS
    checkpoint_dir: Path | None  # AUDIT_CHECKPOINT_DIR: None, no timed checkpoints
    checkpoint_seconds: float  # AUDIT_CHECKPOINT_SECONDS
    overdue_scan_seconds: float  # OVERDUE_SCAN_SECONDS
    approvals_timeout: float  # half RPC_TIMEOUT_SECONDS: asked before a submission, within the gateway's own wait
    changes_wait: float  # a quarter of RPC_TIMEOUT_SECONDS: the changes feed's wait for its projection
    retired_master_keys: tuple[bytes, ...] = field(default=(), repr=False)  # CASES_RETIRED_MASTER_KEYS

    @property
    def master_keys(self) -> MasterKeys:
        """The key ring: CASES_MASTER_KEY wraps, it and CASES_RETIRED_MASTER_KEYS unwrap."""
        return MasterKeys(self.master_key, self.retired_master_keys)

    @classmethod
    def from_env(cls, environ: Environ | None = None) -> "CasesSettings":
        return cls(**Settings.for_service("cases", environ).plumbing(),
                   master_key=master_key(environ),
                   case_key_cache_seconds=number("CASE_KEY_CACHE_SECONDS", 10, environ, minimum=0),
                   case_number_prefix=env("CASE_NUMBER_PREFIX", "GBV", environ),
                   # Audit evidence unsigned is worth little: the service refuses to start without its key.
                   audit_keys=AuditKeys.from_env(os.environ if environ is None else environ),
                   checkpoint_dir=directory("AUDIT_CHECKPOINT_DIR", environ),
                   checkpoint_seconds=number("AUDIT_CHECKPOINT_SECONDS", 3600, environ, positive=True),
                   overdue_scan_seconds=number("OVERDUE_SCAN_SECONDS", 60, environ, positive=True),
                   approvals_timeout=number("RPC_TIMEOUT_SECONDS", 10, environ, positive=True) / 2,
                   changes_wait=number("RPC_TIMEOUT_SECONDS", 10, environ, positive=True) / 4,
                   retired_master_keys=retired_master_keys(environ))


@dataclass(frozen=True)
class AuditCliSettings:
    """casetrail-audit (services/cases/audit.py). As the installation's operator it also opens the cases
    store, with the cases service's own settings (`CasesSettings`), read when it does."""
    operator: str  # AUDIT_OPERATOR: whom the operator's reads are recorded as; empty: no operator mode
    checkpoint_dir: Path | None  # AUDIT_CHECKPOINT_DIR
    gateway: str | None  # CASETRAIL_GATEWAY: read through the gateway as an auditor (the --gateway default)
    user: str | None  # CASETRAIL_USER: the auditor's login there (the --user default)
    password: str = field(repr=False)  # CASETRAIL_PASSWORD; empty: asked

    @classmethod
    def from_env(cls, environ: Environ | None = None) -> "AuditCliSettings":
        return cls(operator=env("AUDIT_OPERATOR", "", environ).strip(),
                   checkpoint_dir=directory("AUDIT_CHECKPOINT_DIR", environ),
                   gateway=env("CASETRAIL_GATEWAY", "", environ) or None,
                   user=env("CASETRAIL_USER", "", environ) or None,
                   password=env("CASETRAIL_PASSWORD", "", environ))
