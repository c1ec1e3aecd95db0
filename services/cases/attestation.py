"""Signed audit evidence that can be checked without trusting the database that produced it.

- `canonical`: RFC 8785 (JCS) JSON, the bytes every digest and signature is made over, so a bundle
  re-serialized by any JSON tool still verifies.
- `AuditKeys`: the installation's Ed25519 signing key (AUDIT_SIGNING_KEY) and the public halves of
  the keys it replaced (AUDIT_RETIRED_PUBLIC_KEYS); `rotate_key` retires the key in a secrets file.
- `seal_bundle` / `check_bundle`: a case's audit bundle with a digest per part and a signature over
  all of it; a check names each part that changed.
- `make_checkpoint` / `write_checkpoint` / `latest_checkpoint` / `compare_with_checkpoint`: every
  chain's head under one signed Merkle root, kept outside PostgreSQL, so a chain rewritten or cut
  back from its head onwards (which its own hashes cannot show) is found.

    python -m services.cases.attestation verify-bundle FILE --keys KEYS_FILE   (offline)
    python -m services.cases.attestation rotate-key SECRETS_FILE"""
import argparse
import base64
import difflib
import errno
import hashlib
import json
import os
import re
import sys
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

import rfc8785
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from shared.store import GENESIS

ALGORITHM = "Ed25519"
SIGNING_KEY = "AUDIT_SIGNING_KEY"
RETIRED_KEYS = "AUDIT_RETIRED_PUBLIC_KEYS"
BUNDLE_FORMAT = "casetrail-audit-bundle/1"
CHECKPOINT_FORMAT = "casetrail-audit-checkpoint/1"
NOT_VERIFIED = "the signature does not verify"


def canonical(value) -> bytes:
    return rfc8785.dumps(value)


def digest(value) -> str | None:
    """sha256 hex over the value's canonical JSON; None for a value that has none (NaN, an integer
    past 2**53): nothing sealed here holds one, so it matches no recorded digest."""
    try:
        return hashlib.sha256(canonical(value)).hexdigest()
    except rfc8785.CanonicalizationError:
        return None


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


# --- keys ---------------------------------------------------------------------------------------

def key_id(public_key: Ed25519PublicKey) -> str:
    return "ed25519:" + hashlib.sha256(public_key.public_bytes_raw()).hexdigest()[:16]


def public_key_entry(public_key: Ed25519PublicKey, current: bool) -> dict:
    pem = public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return {"key_id": key_id(public_key), "algorithm": ALGORITHM, "public_key": _b64(public_key.public_bytes_raw()),
            "public_key_pem": pem.decode(), "current": current}


@dataclass(frozen=True)
class AuditKeys:
    """The key that signs now, and the public halves of the keys that signed before it."""
    current: Ed25519PrivateKey
    retired: tuple[Ed25519PublicKey, ...] = ()

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> "AuditKeys":
        """From variables as the environment gives them (services/cases/settings.py passes the
        environment, rotate-key a secrets file). Audit evidence unsigned is worth little: without a
        usable signing key the cases service refuses to start. Messages never show a key."""
        value = environ.get(SIGNING_KEY, "").strip()
        if not value:
            raise RuntimeError(f"environment variable {SIGNING_KEY} is required: the Ed25519 key that signs"
                               " audit bundles and checkpoints (`python -m shared.secrets` makes one)")
        try:
            current = Ed25519PrivateKey.from_private_bytes(base64.b64decode(value, validate=True))
        except ValueError:
            raise RuntimeError(f"{SIGNING_KEY} is not the base64 of a 32-byte Ed25519 private key") from None
        return cls(current, retired_keys(environ.get(RETIRED_KEYS, ""), exclude=key_id(current.public_key())))

    @property
    def current_key_id(self) -> str:
        return key_id(self.current.public_key())

    def sign(self, data: bytes) -> dict:
        return {"algorithm": ALGORITHM, "key_id": self.current_key_id, "value": _b64(self.current.sign(data))}

    def public_keys(self) -> list[dict]:
        """Current first: what `GET /v1/audit/public-key` gives as {"keys": [...]} and a verifier keeps."""
        return [public_key_entry(self.current.public_key(), current=True),
                *(public_key_entry(key, current=False) for key in self.retired)]


def retired_keys(value: str, exclude: str) -> tuple[Ed25519PublicKey, ...]:
    """AUDIT_RETIRED_PUBLIC_KEYS: comma-separated base64 raw public keys, each once, not the current one."""
    keys: dict[str, Ed25519PublicKey] = {}
    for position, item in enumerate(filter(None, (part.strip() for part in value.split(","))), start=1):
        try:
            key = Ed25519PublicKey.from_public_bytes(base64.b64decode(item, validate=True))
        except ValueError:
            raise RuntimeError(f"{RETIRED_KEYS}: item {position} is not the base64 of a 32-byte Ed25519"
                               " public key") from None
        if key_id(key) != exclude:
            keys.setdefault(key_id(key), key)
    return tuple(keys.values())


_PEM_PUBLIC_KEY = re.compile(r"-----BEGIN PUBLIC KEY-----.+?-----END PUBLIC KEY-----", re.DOTALL)


def keyring(document: dict | str) -> dict[str, Ed25519PublicKey]:
    """Public keys by key id, for verifying offline: from a {"keys": [...]} document (or its JSON
    text), or from PEM text. Ids are computed from the keys; a document's own `key_id` is not
    trusted. ValueError for anything else."""
    if isinstance(document, str):
        if not document.lstrip().startswith("{"):  # a JSON document quotes PEM too: JSON is told by its brace
            blocks = _PEM_PUBLIC_KEY.findall(document)
            if not blocks:
                raise ValueError('neither a {"keys": [...]} document nor PEM public keys')
            return _ring(_pem_key(block) for block in blocks)
        document = json.loads(document)
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise ValueError('a keys document is {"keys": [...]}, as GET /v1/audit/public-key gives it')
    return _ring(_entry_key(entry, position) for position, entry in enumerate(document["keys"], start=1))


def _ring(keys) -> dict[str, Ed25519PublicKey]:
    return {key_id(key): key for key in keys}


def _pem_key(pem: str) -> Ed25519PublicKey:
    try:
        key = serialization.load_pem_public_key(pem.encode())
    except (ValueError, UnsupportedAlgorithm) as bad:
        raise ValueError(f"a PEM block is not a public key: {bad}") from None
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError(f"a PEM block holds a {type(key).__name__}, not an Ed25519 public key")
    return key


def _entry_key(entry, position: int) -> Ed25519PublicKey:
    if not isinstance(entry, dict):
        raise ValueError(f"key {position} is not an object")
    keys = []
    if isinstance(entry.get("public_key"), str):
        try:
            keys.append(Ed25519PublicKey.from_public_bytes(base64.b64decode(entry["public_key"], validate=True)))
        except ValueError:
            raise ValueError(f"key {position}: public_key is not the base64 of an Ed25519 public key") from None
    if isinstance(entry.get("public_key_pem"), str):
        keys.append(_pem_key(entry["public_key_pem"]))
    if not keys:
        raise ValueError(f"key {position} has neither public_key nor public_key_pem")
    if len({key_id(key) for key in keys}) > 1:
        raise ValueError(f"key {position}: public_key and public_key_pem are different keys")
    return keys[0]


# --- rotation -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Rotation:
    retired_key_id: str
    current_key_id: str


def rotate_key(secrets_file: Path) -> Rotation:
    """In a KEY=value secrets file: the signing key's public half joins the retired keys (what it
    signed keeps verifying, by key id) and a fresh signing key takes its place. The file is
    replaced whole, never left half-written."""
    secrets_file = Path(secrets_file).resolve()
    lines = secrets_file.read_text().splitlines()
    old = AuditKeys.from_env(_settings(lines))
    fresh = Ed25519PrivateKey.generate()
    retired = (*old.retired, old.current.public_key())
    lines = _with_setting(lines, SIGNING_KEY, _b64(fresh.private_bytes_raw()))
    lines = _with_setting(lines, RETIRED_KEYS, ",".join(_b64(key.public_bytes_raw()) for key in retired))
    _replace_file(secrets_file, "".join(line + "\n" for line in lines))
    return Rotation(retired_key_id=old.current_key_id, current_key_id=key_id(fresh.public_key()))


def _is_setting(line: str, name: str) -> bool:
    return "=" in line and line.split("=", 1)[0].strip() == name


def _settings(lines: list[str]) -> dict[str, str]:
    # The last of a repeated name wins, as when the shell sources the file.
    return dict(line.split("=", 1) for line in lines if "=" in line and not line.lstrip().startswith("#"))


def _with_setting(lines: list[str], name: str, value: str) -> list[str]:
    if not any(_is_setting(line, name) for line in lines):
        return [*lines, f"{name}={value}"]
    return [f"{name}={value}" if _is_setting(line, name) else line for line in lines]


def _replace_file(path: Path, text: str) -> None:
    """Temp file beside it (mode 0600, the owner kept), synced, renamed over it: the old file or the new."""
    owner = path.stat()
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as out:
            os.fchmod(out.fileno(), 0o600)
            if os.geteuid() == 0:  # root rotating a file the services' user reads
                os.fchown(out.fileno(), owner.st_uid, owner.st_gid)
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    _sync_directory(path.parent)


def _sync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError as unsupported:
        if unsupported.errno != errno.EINVAL:  # some network and FUSE file systems cannot sync a directory
            raise
    finally:
        os.close(fd)


# --- signatures ---------------------------------------------------------------------------------

def signature_problem(document: dict, keyring: Mapping[str, Ed25519PublicKey]) -> str | None:
    """None when `document["signature"]` verifies over the canonical rest of the document."""
    signature = document.get("signature")
    if not isinstance(signature, dict):
        return "there is no signature"
    if signature.get("algorithm") != ALGORITHM:
        return f"the signature's algorithm is {signature.get('algorithm')!r}, not {ALGORITHM}"
    signer = signature.get("key_id")
    public_key = keyring.get(signer) if isinstance(signer, str) else None
    if public_key is None:
        return f"signed by unknown key {signer!r}: not among the keys given"
    unsigned = {name: value for name, value in document.items() if name != "signature"}
    return None if _verifies(public_key, signature.get("value"), unsigned) else NOT_VERIFIED


def _verifies(public_key: Ed25519PublicKey, value, unsigned: dict) -> bool:
    try:
        public_key.verify(base64.b64decode(value, validate=True), canonical(unsigned))
    except (InvalidSignature, ValueError, TypeError):  # TypeError: a value that is not a string
        return False
    return True


# --- bundles ------------------------------------------------------------------------------------

_SEAL = ("digests", "signature")
_HISTORY_PART = re.compile(r"history\[(\d+)\]")


def seal_bundle(body: dict, keys: AuditKeys) -> dict:
    """The bundle with its format, a digest per part (`part_digests`) and a signature over all of it."""
    if any(name in body for name in _SEAL):
        raise ValueError("the bundle is sealed already")
    bundle = {**body, "format": BUNDLE_FORMAT}
    bundle["digests"] = part_digests(bundle)
    bundle["signature"] = keys.sign(canonical(bundle))
    return bundle


def part_digests(bundle: dict) -> dict[str, str | None]:
    """One digest per top-level field ("state", "verification", ...) and per history item
    ("history[0]", ...), so a check can say which part changed, not only that something did."""
    parts = {name: digest(value) for name, value in bundle.items() if name not in (*_SEAL, "history")}
    for index, item in enumerate(_history(bundle)):
        parts[f"history[{index}]"] = digest(item)
    return parts


def _history(bundle: dict) -> list:
    history = bundle.get("history")
    return history if isinstance(history, list) else []


def check_bundle(bundle: dict, keyring: Mapping[str, Ed25519PublicKey]) -> list[str]:
    """[] for a bundle as sealed by a key in `keyring`; otherwise every problem found, each naming
    the part concerned. With the signature broken the digests are no longer evidence, only a guide
    to what changed."""
    if not isinstance(bundle, dict):
        return ["the bundle is not a JSON object"]
    changed = part_problems(bundle)
    seal = signature_problem(bundle, keyring)
    if seal == NOT_VERIFIED and not changed:
        seal = (f"{NOT_VERIFIED}, though every part matches its digest: the digests or the signature block"
                " itself was altered")
    return ([seal] if seal else []) + changed + chain_problems(bundle)


def part_problems(bundle: dict) -> list[str]:
    """Each part whose digest no longer matches, or that was added or removed since sealing."""
    recorded = bundle.get("digests")
    if not isinstance(recorded, dict):
        return ["there are no digests"]
    current = part_digests(bundle)
    fields = [name for name in {**recorded, **current} if not _HISTORY_PART.fullmatch(name)]
    problems = []
    for name in fields:
        if name not in current:
            problems.append(f"{name} was removed")
        elif name not in recorded:
            problems.append(f"{name} was added")
        elif recorded[name] != current[name]:
            problems.append(f"{name} was changed")
    return problems + _history_problems(recorded, _history(bundle))


def _history_problems(recorded: dict, items: list) -> list[str]:
    """The sealed item digests aligned with today's items, so a removed or inserted item is named
    as such rather than as every item after it having changed. A value that is no digest matches
    nothing (a fresh object())."""
    numbered = sorted(((int(match[1]), value) for name, value in recorded.items()
                       if (match := _HISTORY_PART.fullmatch(name))), key=lambda pair: pair[0])
    sealed = [value if isinstance(value, str) else object() for _, value in numbered]
    now = [digest(item) or object() for item in items]
    problems = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, sealed, now, autojunk=False).get_opcodes():
        if tag == "equal":
            continue
        paired = min(i2 - i1, j2 - j1)
        problems += [f"{_item_name(items, j)} was changed" for j in range(j1, j1 + paired)]
        problems += [f"history[{i}] was removed ({_place(items, j1)})" for i in range(i1 + paired, i2)]
        problems += [f"{_item_name(items, j)} was added" for j in range(j1 + paired, j2)]
    return problems


def _item_name(items: list, index: int) -> str:
    item = items[index]
    sequence = item.get("sequence") if isinstance(item, dict) else None
    return f"history[{index}]" if sequence is None else f"history[{index}] (sequence {sequence})"


def _place(items: list, index: int) -> str:
    if index == 0:
        return "it came first"
    before = items[index - 1]
    sequence = before.get("sequence") if isinstance(before, dict) else None
    return f"it followed history[{index - 1}]" if sequence is None else f"it followed sequence {sequence}"


@dataclass(frozen=True)
class Link:
    """A history item's place in its chain."""
    sequence: int
    hash: str
    prev_hash: str

    @classmethod
    def of(cls, item) -> "Link | None":
        if not isinstance(item, dict):
            return None
        sequence, link_hash, prev_hash = item.get("sequence"), item.get("hash"), item.get("prev_hash")
        if type(sequence) is not int or not isinstance(link_hash, str) or not isinstance(prev_hash, str):
            return None
        return cls(sequence, link_hash, prev_hash)


def chain_problems(bundle: dict) -> list[str]:
    """What the history shows without the database: each item names the hash of the one before it,
    sequences rise by one, and the head is the last item. (The hashes themselves are over the
    encrypted events, which a bundle does not carry: `casetrail-audit verify` recomputes those.)"""
    if not isinstance(bundle.get("history"), list):
        return ["history is missing or not a list"]
    problems, previous = [], None
    for index, item in enumerate(bundle["history"]):
        link = Link.of(item)
        if link is None:
            problems.append(f"history[{index}] is not a chain link (it needs an integer sequence, hash and prev_hash)")
        elif index == 0:
            problems += _first_link_problems(link)
        elif previous is not None:
            problems += _link_problems(f"history[{index}] (sequence {link.sequence})", link, previous)
        previous = link
    return problems + _head_problems(bundle)


def _first_link_problems(link: Link) -> list[str]:
    if link.sequence == 1 and link.prev_hash != GENESIS:
        return ["history[0] (sequence 1) starts the chain, but its prev_hash is not the genesis hash (64 zeros)"]
    return []


def _link_problems(name: str, link: Link, previous: Link) -> list[str]:
    problems = []
    if link.sequence > previous.sequence + 1:
        first, last = previous.sequence + 1, link.sequence - 1
        missing = f"sequence {first} is" if first == last else f"sequences {first} to {last} are"
        problems.append(f"{name} does not follow sequence {previous.sequence}: {missing} missing")
    elif link.sequence != previous.sequence + 1:
        problems.append(f"{name} does not follow sequence {previous.sequence}: out of order or repeated")
    if link.prev_hash != previous.hash:
        problems.append(f"{name} does not link to the item before it: its prev_hash is not sequence"
                        f" {previous.sequence}'s hash")
    return problems


def _head_problems(bundle: dict) -> list[str]:
    verification, history = bundle.get("verification"), bundle["history"]
    if not (isinstance(verification, dict) and verification.get("valid") is True and history):
        return []
    last = Link.of(history[-1])
    if last is None or bundle.get("head_hash") == last.hash:
        return []
    return [f"head_hash is not the hash of the last history item (sequence {last.sequence}), though the"
            " verification says the chain held"]


class Unusable(Exception):
    """verify-bundle's input cannot be checked at all (exit 2), as against checked and invalid (exit 1)."""


def verify_bundle_command(bundle_path: str | Path, keys_path: str | Path, out: TextIO,
                          err: TextIO | None = None) -> int:
    """`verify-bundle`: prints "valid" (0) or each problem (1); unusable input is told on `err`
    (default stderr) with 2. Offline: reads the two files and nothing else."""
    try:
        bundle = _read_bundle(Path(bundle_path))
        ring = _read_keys(Path(keys_path))
    except Unusable as unusable:
        print(f"verify-bundle: {unusable}", file=err or sys.stderr)
        return 2
    problems = check_bundle(bundle, ring)
    for problem in problems or ["valid"]:
        print(problem, file=out)
    verification = bundle.get("verification")
    if not problems and isinstance(verification, dict) and verification.get("valid") is not True:
        # The bundle is authentic; what it attests is a chain that did not hold.
        print(f"note: the export's own verification found the chain broken (first bad sequence"
              f" {verification.get('first_bad_sequence')})", file=out)
    return 1 if problems else 0


def _read_text(path: Path, what: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as unreadable:
        raise Unusable(f"cannot read the {what} {path}: {getattr(unreadable, 'strerror', None) or unreadable}")


def _not_json_constant(name: str):
    raise ValueError(f"{name} is not JSON")


def _read_bundle(path: Path) -> dict:
    try:
        bundle = json.loads(_read_text(path, "bundle"), parse_constant=_not_json_constant)
    except ValueError as bad:
        raise Unusable(f"the bundle {path} is not JSON: {bad}") from None
    if not isinstance(bundle, dict):
        raise Unusable(f"the bundle {path} is not a JSON object")
    return bundle


def _read_keys(path: Path) -> dict[str, Ed25519PublicKey]:
    try:
        ring = keyring(_read_text(path, "keys file"))
    except ValueError as bad:
        raise Unusable(f"the keys file {path} is unusable: {bad}") from None
    if not ring:
        raise Unusable(f"the keys file {path} holds no keys")
    return ring


# --- checkpoints --------------------------------------------------------------------------------

def merkle_root(leaves: list[bytes]) -> str:
    """RFC 6962's Merkle tree hash: leaves and nodes hashed apart (0x00, 0x01); a level's odd last
    node is carried up as it is, which is what RFC 6962's split at the largest power of two gives."""
    if not leaves:
        return hashlib.sha256(b"").hexdigest()
    level = [hashlib.sha256(b"\x00" + leaf).digest() for leaf in leaves]
    while len(level) > 1:
        nodes = [hashlib.sha256(b"\x01" + level[i] + level[i + 1]).digest() for i in range(0, len(level) - 1, 2)]
        level = nodes + level[2 * len(nodes):]
    return level[0].hex()


def rfc3339(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError("a checkpoint's time must be timezone-aware")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def make_checkpoint(heads: list[dict], keys: AuditKeys, now: datetime) -> dict:
    """Every chain's head ({"chain_id", "sequence", "hash"}) under one Merkle root, signed."""
    heads = sorted(({"chain_id": str(head["chain_id"]), "sequence": int(head["sequence"]), "hash": str(head["hash"])}
                    for head in heads), key=lambda head: head["chain_id"])
    if len({head["chain_id"] for head in heads}) != len(heads):
        raise ValueError("a chain has more than one head")
    checkpoint = {"format": CHECKPOINT_FORMAT, "created_at": rfc3339(now), "chains": len(heads),
                  "events": sum(head["sequence"] for head in heads),
                  "merkle_root": merkle_root([canonical(head) for head in heads]), "heads": heads}
    checkpoint["signature"] = keys.sign(canonical(checkpoint))
    return checkpoint


_CHECKPOINT_NAME = re.compile(r"checkpoint-\d{8}T\d{12}Z-[0-9a-f]{12}\.json")


def checkpoint_name(checkpoint: dict) -> str:
    created = datetime.fromisoformat(checkpoint["created_at"]).astimezone(UTC)
    return f"checkpoint-{created.strftime('%Y%m%dT%H%M%S%fZ')}-{checkpoint['merkle_root'][:12]}.json"


def write_checkpoint(directory: Path, checkpoint: dict) -> Path:
    """A new file, never one that exists (O_EXCL), synced, then read-only. `directory` may be a
    mount of write-once storage."""
    path = Path(directory) / checkpoint_name(checkpoint)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o444)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(json.dumps(checkpoint, indent=2).encode() + b"\n")
            out.flush()
            os.fsync(out.fileno())
            # Last, once the content is down: on some write-once storage, read-only is what commits the file.
            os.fchmod(out.fileno(), 0o444)
    except BaseException:
        _discard(path)
        raise
    _sync_directory(path.parent)
    return path


def _discard(path: Path) -> None:
    try:
        path.unlink()
    except OSError:
        pass  # write-once storage keeps it; latest_checkpoint will then report it as not holding


class CheckpointInvalid(Exception):
    """A checkpoint file that does not hold (altered, forged, renamed, unreadable): never skipped
    for an older one, since a tampered anchor is itself the finding."""

    def __init__(self, path: Path, problems: list[str]):
        super().__init__(f"checkpoint {path} does not hold: " + "; ".join(problems))
        self.path, self.problems = path, problems


def checkpoint_problems(checkpoint: dict, keyring: Mapping[str, Ed25519PublicKey]) -> list[str]:
    if not isinstance(checkpoint, dict):
        return ["it is not a JSON object"]
    problems = [] if checkpoint.get("format") == CHECKPOINT_FORMAT else [
        f"its format is {checkpoint.get('format')!r}, not {CHECKPOINT_FORMAT}"]
    if problem := signature_problem(checkpoint, keyring):
        problems.append(problem)
    heads = checkpoint.get("heads")
    if not isinstance(heads, list) or not all(_is_head(head) for head in heads):
        return problems + ["its heads are not a list of {chain_id, sequence, hash}"]
    if merkle_root([canonical(head) for head in heads]) != checkpoint.get("merkle_root"):
        problems.append("its merkle_root is not the root of its heads")
    if checkpoint.get("chains") != len(heads) or checkpoint.get("events") != sum(head["sequence"] for head in heads):
        problems.append("its chain and event counts are not its heads'")
    return problems


def _is_head(head) -> bool:
    return (isinstance(head, dict) and isinstance(head.get("chain_id"), str) and isinstance(head.get("hash"), str)
            and type(head.get("sequence")) is int and 0 <= head["sequence"] < 2 ** 53)


def read_checkpoint(path: Path, keyring: Mapping[str, Ed25519PublicKey]) -> dict:
    """The checkpoint in `path`, or CheckpointInvalid naming the file and what does not hold."""
    try:
        checkpoint = json.loads(path.read_bytes(), parse_constant=_not_json_constant)
    except (OSError, ValueError) as unreadable:
        raise CheckpointInvalid(path, [f"it cannot be read as JSON ({unreadable})"]) from None
    problems = checkpoint_problems(checkpoint, keyring)
    if not problems and path.name != checkpoint_name(checkpoint):
        problems.append("its name does not match its created_at and merkle_root (renamed?)")
    if problems:
        raise CheckpointInvalid(path, problems)
    return checkpoint


def latest_checkpoint(directory: Path, keyring: Mapping[str, Ed25519PublicKey]) -> dict | None:
    """The newest checkpoint in `directory`, None if it has none. The newest that does not hold
    raises CheckpointInvalid rather than giving way to an older one."""
    names = sorted(path.name for path in Path(directory).iterdir() if _CHECKPOINT_NAME.fullmatch(path.name))
    return read_checkpoint(Path(directory) / names[-1], keyring) if names else None


def compare_with_checkpoint(checkpoint: dict, current_heads: Mapping[str, tuple[int, str]],
                            hash_at: Callable[[str, int], str | None]) -> dict[str, str]:
    """chain_id → what became of it, for each chain the checkpoint anchored that no longer extends
    its anchored head: "removed", "shortened below the checkpoint (...)", "rewritten (...)". Chains
    that do extend it, and chains begun since, are absent. `hash_at(chain_id, sequence)`: that
    link's hash today, None if there is none; asked only for chains that grew since."""
    current = {str(chain_id): head for chain_id, head in current_heads.items()}
    problems = {}
    for anchored in checkpoint["heads"]:
        if problem := _drift(anchored, current.get(anchored["chain_id"]), hash_at):
            problems[anchored["chain_id"]] = problem
    return problems


def _drift(anchored: dict, head: tuple[int, str] | None, hash_at: Callable[[str, int], str | None]) -> str | None:
    if head is None:
        return "removed"
    sequence, head_hash = head
    if sequence < anchored["sequence"]:
        return f"shortened below the checkpoint (sequence {sequence} < {anchored['sequence']})"
    then = head_hash if sequence == anchored["sequence"] else hash_at(anchored["chain_id"], anchored["sequence"])
    if then is None:
        return f"rewritten (link {anchored['sequence']} is gone)"
    if then != anchored["hash"]:
        return f"rewritten (link {anchored['sequence']} no longer has the checkpoint's hash)"
    return None


# --- command line -------------------------------------------------------------------------------

def rotate_key_command(secrets_file: str | Path, out: TextIO, err: TextIO | None = None) -> int:
    try:
        rotation = rotate_key(Path(secrets_file))
    except (OSError, RuntimeError) as failed:
        print(f"rotate-key: {failed}", file=err or sys.stderr)
        return 2
    print(f"{SIGNING_KEY} is now {rotation.current_key_id}; {rotation.retired_key_id} retired (what it signed"
          " still verifies). Restart the services that sign to use the new key.", file=out)
    return 0


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="python -m services.cases.attestation", description=__doc__,
                                  formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = top.add_subparsers(dest="command", required=True)
    verify = commands.add_parser("verify-bundle", help="check a signed audit bundle offline (exit 0 valid,"
                                                       " 1 invalid, 2 unusable input)")
    verify.add_argument("file")
    verify.add_argument("--keys", required=True, help='the {"keys": [...]} of GET /v1/audit/public-key, or PEM')
    rotate = commands.add_parser("rotate-key", help="retire AUDIT_SIGNING_KEY in a secrets file, write a new one")
    rotate.add_argument("secrets_file")
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.command == "verify-bundle":
        return verify_bundle_command(args.file, args.keys, sys.stdout)
    return rotate_key_command(args.secrets_file, sys.stdout)


if __name__ == "__main__":
    sys.exit(main())
