"""The master keys that wrap every case's key (services/cases/protection.py): the current one,
CASES_MASTER_KEY, wraps new case keys; retired ones, CASES_RETIRED_MASTER_KEYS, only unwrap, so
case keys wrapped before a rotation keep opening while `casetrail-audit rotate-master-key`
re-wraps them. A master key is known by its fingerprint (`mk:` and 16 hex digits, derived by
HKDF: it says nothing about the key), stored beside each wrapped case key.

    python -m services.cases.keyring new-master-key SECRETS_FILE
        in a KEY=value secrets file: the current master key joins the retired ones, a new one
        takes its place (restart the cases service, then re-wrap)
    python -m services.cases.keyring drop-retired-master-keys SECRETS_FILE
        removes the retired master keys (only once no case key is wrapped under them)"""
import argparse
import base64
import binascii
import os
import sys
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TextIO
from uuid import UUID

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from shared.keys import derived_key

CURRENT = "CASES_MASTER_KEY"
RETIRED = "CASES_RETIRED_MASTER_KEYS"


class MasterKeyNotHeld(RuntimeError):
    """A case key is wrapped under a master key this process does not hold."""


def fingerprint(key: bytes) -> str:
    """A master key's public name: stored with each case key, logged, shown; never the key."""
    return "mk:" + derived_key(key, b"casetrail master key fingerprint v1")[:8].hex()


def decoded(value: str, name: str) -> bytes:
    """A 32-byte key given in base64, or RuntimeError naming the variable (never the value)."""
    try:
        key = base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        key = b""
    if len(key) != 32:
        raise RuntimeError(f"{name} must be 32 bytes, base64-encoded")
    return key


def retired_keys(value: str) -> tuple[bytes, ...]:
    """CASES_RETIRED_MASTER_KEYS: comma-separated base64 keys (empty: none)."""
    items = [item for item in (part.strip() for part in value.split(",")) if item]
    return tuple(decoded(item, f"{RETIRED} (item {position})") for position, item in enumerate(items, start=1))


@dataclass(frozen=True)
class MasterKeys:
    """The key ring: `current` wraps, every key in it unwraps what it wrapped."""

    current: bytes = field(repr=False)
    retired: tuple[bytes, ...] = field(default=(), repr=False)

    @cached_property
    def current_id(self) -> str:
        return fingerprint(self.current)

    @cached_property
    def by_id(self) -> dict[str, bytes]:
        """Every held key by fingerprint, current first; a retired key equal to the current one counts once."""
        keys = {self.current_id: self.current}
        for key in self.retired:
            keys.setdefault(fingerprint(key), key)
        return keys

    @property
    def retired_ids(self) -> list[str]:
        return [key_id for key_id in self.by_id if key_id != self.current_id]

    def wrap(self, case_id: UUID, case_key: bytes) -> tuple[bytes, str]:
        """The case key wrapped under the current master key (nonce + AES-GCM, the case id as
        associated data), and that key's fingerprint."""
        nonce = os.urandom(12)
        return nonce + AESGCM(self.current).encrypt(nonce, case_key, case_id.bytes), self.current_id

    def unwrap(self, case_id: UUID, wrapped: bytes, key_id: str | None) -> bytes:
        """The case key. `key_id` None: wrapped before keys were named, by whichever key opens it."""
        if key_id is not None:
            key = self.by_id.get(key_id)
            if key is None:
                raise MasterKeyNotHeld(
                    f"the key of case {case_id} is wrapped under master key {key_id}, which this process"
                    f" does not hold (it holds {', '.join(self.by_id)}): give it {CURRENT} or {RETIRED}"
                    " with that key")
            return AESGCM(key).decrypt(wrapped[:12], wrapped[12:], case_id.bytes)
        for key in self.by_id.values():
            try:
                return AESGCM(key).decrypt(wrapped[:12], wrapped[12:], case_id.bytes)
            except InvalidTag:
                continue
        raise MasterKeyNotHeld(f"the key of case {case_id} opens with no master key this process holds"
                               f" ({', '.join(self.by_id)})")


# --- the secrets file -----------------------------------------------------------------------------

@dataclass(frozen=True)
class NewMasterKey:
    current_id: str
    retired_ids: list[str]


def new_master_key(secrets_file: Path) -> NewMasterKey:
    """In a KEY=value secrets file: the current master key joins the retired ones and a fresh key
    takes its place. The file is replaced whole, never left half-written."""
    from services.cases.attestation import _replace_file, _settings, _with_setting
    secrets_file = Path(secrets_file).resolve()
    lines = secrets_file.read_text().splitlines()
    values = _settings(lines)
    old = MasterKeys(decoded(values.get(CURRENT, ""), CURRENT), retired_keys(values.get(RETIRED, "")))
    ring = MasterKeys(os.urandom(32), (old.current, *old.retired))
    lines = _with_setting(lines, CURRENT, _b64(ring.current))
    lines = _with_setting(lines, RETIRED, ",".join(_b64(ring.by_id[key_id]) for key_id in ring.retired_ids))
    _replace_file(secrets_file, "".join(line + "\n" for line in lines))
    return NewMasterKey(ring.current_id, ring.retired_ids)


def drop_retired_master_keys(secrets_file: Path) -> list[str]:
    """Empties CASES_RETIRED_MASTER_KEYS in a secrets file; the fingerprints it held."""
    from services.cases.attestation import _replace_file, _settings, _with_setting
    secrets_file = Path(secrets_file).resolve()
    lines = secrets_file.read_text().splitlines()
    values = _settings(lines)
    dropped = [fingerprint(key) for key in retired_keys(values.get(RETIRED, ""))]
    _replace_file(secrets_file, "".join(line + "\n" for line in _with_setting(lines, RETIRED, "")))
    return dropped


def _b64(key: bytes) -> str:
    return base64.b64encode(key).decode()


def main(argv: list[str] | None = None, out: TextIO = sys.stdout) -> int:
    top = argparse.ArgumentParser(prog="python -m services.cases.keyring", description=__doc__,
                                  formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = top.add_subparsers(dest="command", required=True)
    for name in ("new-master-key", "drop-retired-master-keys"):
        commands.add_parser(name).add_argument("secrets_file", type=Path)
    args = top.parse_args(argv)
    try:
        if args.command == "new-master-key":
            made = new_master_key(args.secrets_file)
            print(f"{CURRENT} is now {made.current_id}; retired (unwrap only): {', '.join(made.retired_ids)}."
                  " Restart the cases service, then re-wrap: casetrail-audit rotate-master-key", file=out)
        else:
            dropped = drop_retired_master_keys(args.secrets_file)
            print(f"dropped {', '.join(dropped) or 'nothing'} from {RETIRED}; restart the cases service", file=out)
    except (OSError, RuntimeError) as failed:
        print(f"{args.command}: {failed}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
