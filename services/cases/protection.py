"""Survivor identifying fields, sealed with a key per case so that destroying the key erases them.

Which fields identify a survivor is said once, here, by path: `IDENTIFYING` for each event type,
`CASE_FILE` for the case's state (snapshots, views). The mapper seals those values with the case's
AES-GCM key before the event is stored (the service-wide cipher then covers the whole event as
before) and opens them when it is read. A value whose key was destroyed reads `"[erased]"`.
Case keys live in `case_keys`, each wrapped under a master key from the environment (services/cases/keyring.py)
and named by that key's fingerprint."""
import base64
import json
import logging
import os
import time
from collections import OrderedDict
from collections.abc import Callable
from uuid import UUID

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from eventsourcing.persistence import Mapper

from services.cases.keyring import MasterKeyNotHeld, MasterKeys
from shared.case_texts import SEALED as _SEALED
from shared.case_texts import is_sealed
from shared.errors import ServiceUnavailable

log = logging.getLogger(__name__)

ERASED = "[erased]"
REDACTED = "[redacted]"

# Every free-text value kept about a case: notes, reasons, descriptions, names of people, a caregiver's
# relationship, a goal's responsible and consulted, feedback answers (keys and values: the whole dict is
# one sealed value), an erasure's reason. Only enumerations, numbers, dates, ids and usernames are not here.
SURVIVOR = ("survivor.name", "survivor.date_of_birth", "survivor.phone", "survivor.location",
            "caregiver.name", "caregiver.relationship", "caregiver.phone")
GOALS = ("action", "responsible", "consulted.*")
CASE_FILE = (*SURVIVOR, "intake_notes", "unaccompanied.reason", "assessment.safety_concerns", "assessment.notes",
             *(f"plan.goals.*.{field}" for field in GOALS), "plan.child_participation", "monitoring.raise_reason",
             "consent.best_interests_note", "erasure.reason")
IDENTIFYING: dict[str, tuple[str, ...]] = {
    "CaseRegistered": (*SURVIVOR, "intake_notes", "unaccompanied_reason"),
    "AssessmentRecorded": ("safety_concerns", "notes"),
    "CasePlanDrafted": (*(f"goals.*.{field}" for field in GOALS), "child_participation"),
    "FollowUpRecorded": ("notes", "raise_reason"),
    "ConsentRecorded": ("terms.best_interests_note",),
    "ConsentRenewed": ("terms.best_interests_note",),
    "CaseConferenceHeld": ("participants.*", "decisions", "next_steps"),
    "ClosureRequested": ("notes",),
    "CaseReopened": ("reason",),
    # The whole dict, keys too; "answers.*" opens what was recorded before keys were sealed.
    "ClientFeedbackRecorded": ("answers", "answers.*"),
    "CaseErased": ("reason",),
    "Snapshot": tuple(f"state.{path}" for path in CASE_FILE),
}

# Case keys are kept in the `case_keys` table (services/cases/migrations).


def transform(value, path: str, change: Callable):
    """`value` with `change` applied to every non-null leaf that `path` names ("a.*.b")."""
    return _walk(value, path.split("."), change)


def _walk(value, steps: list[str], change: Callable):
    if not steps:
        return None if value is None else change(value)
    step, rest = steps[0], steps[1:]
    if step == "*":
        if isinstance(value, list):
            return [_walk(item, rest, change) for item in value]
        if isinstance(value, dict):
            return {key: _walk(item, rest, change) for key, item in value.items()}
        return value
    if isinstance(value, dict) and step in value:
        return {**value, step: _walk(value[step], rest, change)}
    return value


def transform_all(state: dict, paths: tuple[str, ...], change: Callable) -> dict:
    for path in paths:
        state = transform(state, path, change)
    return state


def redacted(state: dict, paths: tuple[str, ...]) -> dict:
    """What an auditor sees: every identifying value replaced, the shape kept."""
    return transform_all(state, paths, lambda value: REDACTED)


class KeyMissing(RuntimeError):
    """A sealed value whose case has no key row at all: the key table was damaged."""


class CaseKeys:
    """Per-case data keys, wrapped under the master keys. Keys are cached for `ttl` seconds, so
    another instance of the service may still open a case's fields that long after erasure."""

    def __init__(self, store, master: MasterKeys, ttl: float = 10.0, size: int = 10_000):
        self.store, self.master, self.ttl, self.size = store, master, ttl, size
        self.cache: OrderedDict[UUID, tuple[float, bytes | None]] = OrderedDict()

    def key_for(self, case_id: UUID, create: bool) -> bytes | None:
        """The case's key; None once erased. `create`: make one if the case has none yet."""
        cached = self.cache.get(case_id)
        if cached and time.monotonic() - cached[0] < self.ttl:
            return cached[1]
        key = self._load(case_id, create)
        self.cache[case_id] = (time.monotonic(), key)
        self.cache.move_to_end(case_id)
        while len(self.cache) > self.size:
            self.cache.popitem(last=False)
        return key

    def _load(self, case_id: UUID, create: bool) -> bytes | None:
        wrapped_new = self.master.wrap(case_id, AESGCM.generate_key(bit_length=256)) if create else None
        row = self._row(case_id, wrapped_new)
        if row is None:
            raise KeyMissing(f"case {case_id} has sealed fields but no key row")
        if row["wrapped_key"] is None:
            return None
        try:
            return self.master.unwrap(case_id, bytes(row["wrapped_key"]), row.get("master_key_id"))
        except MasterKeyNotHeld as not_held:
            # An instance not yet given a rotated key ring: this read fails, nothing is written.
            log.error("%s", not_held)
            raise ServiceUnavailable("This case cannot be opened by this instance now; try again.") from None

    def _row(self, case_id: UUID, wrapped_new: tuple[bytes, str] | None) -> dict | None:
        """The case's key row (`wrapped_key`, `master_key_id`, `erased_at`), first storing `wrapped_new`
        (the wrapped key and its master key's fingerprint) as its key if it has none."""
        with self.store.transaction() if wrapped_new is not None else self.store.reading() as curs:
            if wrapped_new is not None:
                # Committed before the events that use it: a key without events is harmless.
                curs.execute(self.store.sql("INSERT INTO {schema}.case_keys (case_id, wrapped_key, master_key_id)"
                                            " VALUES (%s, %s, %s) ON CONFLICT DO NOTHING"), (case_id, *wrapped_new))
            curs.execute(self.store.sql("SELECT wrapped_key, master_key_id, erased_at FROM {schema}.case_keys"
                                        " WHERE case_id = %s"), (case_id,))
            return curs.fetchone()

    def destruction(self, case_id: UUID) -> tuple:
        """The statement that destroys the case's key, to run in the transaction that records why."""
        return (self.store.sql(
            "INSERT INTO {schema}.case_keys (case_id, wrapped_key, erased_at) VALUES (%s, NULL, now())"
            " ON CONFLICT (case_id) DO UPDATE SET wrapped_key = NULL, erased_at = now()"), (case_id,))

    def forget(self, case_id: UUID) -> None:
        self.cache.pop(case_id, None)


def seal(key: bytes | None, case_id: UUID, value) -> str:
    if key is None:
        return ERASED  # written after erasure: nothing identifying is kept
    nonce = os.urandom(12)
    sealed = AESGCM(key).encrypt(nonce, json.dumps(value).encode(), case_id.bytes)
    return _SEALED + base64.b64encode(nonce + sealed).decode()


def open_sealed(key: bytes | None, case_id: UUID, value):
    if not is_sealed(value):
        return value
    if key is None:
        return ERASED
    raw = base64.b64decode(value[len(_SEALED):])
    try:
        return json.loads(AESGCM(key).decrypt(raw[:12], raw[12:], case_id.bytes))
    except InvalidTag:
        raise KeyMissing(f"a sealed field of case {case_id} does not open with its key") from None


class SealingMapper(Mapper):
    """Seals identifying fields on the way into the store and opens them on the way out."""

    keys: CaseKeys  # set by the store once it has a database

    def to_stored_event(self, domain_event):
        paths = IDENTIFYING.get(type(domain_event).__name__)
        if paths:
            state = vars(domain_event)
            case_id = _case_of(state)
            if _has_values(state, paths):
                key = self.keys.key_for(case_id, create=True)
                domain_event = _with_state(domain_event, transform_all(
                    state, paths, lambda value: seal(key, case_id, value)))
        return super().to_stored_event(domain_event)

    def to_domain_event(self, stored_event):
        domain_event = super().to_domain_event(stored_event)
        paths = IDENTIFYING.get(type(domain_event).__name__)
        if paths:
            state = vars(domain_event)
            if _has_values(state, paths, is_sealed):
                case_id = _case_of(state)
                key = self.keys.key_for(case_id, create=False)
                object.__setattr__(domain_event, "__dict__", transform_all(
                    state, paths, lambda value: open_sealed(key, case_id, value)))
        return domain_event


def _case_of(state: dict) -> UUID:
    # Case events and snapshots belong to the case itself; consent names its case.
    return state.get("case_id") or state["originator_id"]


def _has_values(state: dict, paths: tuple[str, ...], test: Callable = lambda value: True) -> bool:
    found: list[bool] = []

    def note(value):
        found.append(test(value))
        return value
    transform_all(state, paths, note)
    return any(found)


def _with_state(domain_event, state: dict):
    copy = object.__new__(type(domain_event))
    object.__setattr__(copy, "__dict__", state)
    return copy
