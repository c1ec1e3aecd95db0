"""Use cases of the cases service, its read model, and what it tells the bus."""
import base64
import random
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError, StoredEvent

from services.cases import policy
from services.cases.attestation import (AuditKeys, compare_with_checkpoint, keyring, latest_checkpoint,
                                        make_checkpoint, seal_bundle, write_checkpoint)
from services.cases.domain import Case, CaseAccess, CaseActivity, Consent, activity_view
from services.cases.protection import (CASE_FILE, IDENTIFYING, KEY_TABLE, CaseKeys, KeyMissing, SealingMapper,
                                       open_sealed, redacted, seal)
from shared.caller import recorded_by
from shared.errors import Conflict, InvalidInput, NotFound, VersionMismatch
from shared.metrics import gauge
from shared.outbox import Projection
from shared.settings import env
from shared.store import GENESIS, ServiceStore, fingerprint
from shared.text import refusal
from shared.vocabulary import RiskLevel, Stage

SYSTEM = {"username": "system", "role": "system", "correlation_id": None}
DECISIONS = ("CasePlanApproved", "CasePlanRejected", "ClosureApproved", "ClosureRejected")


class CaseIndex(Projection):
    """The list of cases and their due dates, kept by following the log (never by loading aggregates)."""

    name = "case_index"
    TABLES = (
        "CREATE TABLE IF NOT EXISTS {schema}.case_index ("
        " case_id uuid PRIMARY KEY, case_number text NOT NULL UNIQUE, stage text NOT NULL,"
        " risk_level text NOT NULL, assigned_to text NOT NULL, is_child boolean NOT NULL,"
        " next_due timestamptz, overdue_flagged timestamptz, version integer NOT NULL,"
        " created_at timestamptz NOT NULL, updated_at timestamptz NOT NULL)",
        "CREATE INDEX IF NOT EXISTS case_index_assigned ON {schema}.case_index (assigned_to, case_number)",
        # Only open cases whose current due time has not been flagged: what the overdue scan reads.
        "CREATE INDEX IF NOT EXISTS case_index_unflagged_due ON {schema}.case_index (next_due)"
        " WHERE stage <> 'closed' AND next_due IS DISTINCT FROM overdue_flagged",
    )
    CHANGES = {
        "AssessmentRecorded": ("stage = 'case_plan'", ()),
        "CasePlanApproved": ("stage = CASE WHEN stage = 'case_plan' THEN 'implementation' ELSE stage END,"
                             " next_due = %s", ("next_due",)),
        "FollowUpRecorded": ("stage = CASE WHEN stage = 'implementation' THEN 'follow_up' ELSE stage END,"
                             " next_due = %s", ("next_due",)),
        "RiskLevelChanged": ("risk_level = %s, next_due = %s", ("risk_level", "next_due")),
        "FollowUpOverdue": ("overdue_flagged = %s", ("due",)),
        "CaseReassigned": ("assigned_to = %s", ("caseworker",)),
        "CaseClosed": ("stage = 'closed', next_due = NULL", ()),
        "CaseReopened": ("stage = 'follow_up', next_due = %s", ("next_due",)),
    }

    def apply(self, store, curs, event) -> None:
        kind = type(event).__name__
        if kind == "CaseRegistered":
            curs.execute(store.sql(
                "INSERT INTO {schema}.case_index (case_id, case_number, stage, risk_level, assigned_to,"
                " is_child, version, created_at, updated_at) VALUES (%s,%s,'engagement',%s,%s,%s,%s,%s,%s)"),
                (event.originator_id, event.case_number, event.risk_level, event.assigned_to,
                 event.is_child, event.originator_version, event.timestamp, event.timestamp))
            return
        if not isinstance(event, Case.Event):
            return  # consent lives in its own stream
        change, fields = self.CHANGES.get(kind, ("", ()))
        assignments = ", ".join(filter(None, [change, "version = %s, updated_at = %s"]))
        curs.execute(store.sql(f"UPDATE {{schema}}.case_index SET {assignments} WHERE case_id = %s"),
                     (*(getattr(event, f) for f in fields), event.originator_version, event.timestamp,
                      event.originator_id))


def public_event(event) -> tuple[str, dict] | None:
    """What other services learn of a case: ids, numbers, stage, risk and dates; never survivor data.
    Approval decisions are the approvals service's events, not republished here."""
    kind = type(event).__name__
    if kind == "CaseRegistered":
        return kind, {"case_number": event.case_number, "risk_level": event.risk_level,
                      "is_child": event.is_child, "assigned_to": event.assigned_to, "stage": "engagement"}
    if kind in ("ConsentRecorded", "ConsentRenewed"):
        return "ConsentRecorded", {"case_id": str(event.case_id), "services": bool(event.terms.get("services")),
                                   "share_with_providers": bool(event.terms.get("share_with_providers"))}
    simple = {
        "ConsentWithdrawn": lambda: {"case_id": str(event.case_id)},
        "AssessmentRecorded": lambda: {"needs": event.needs},
        "RiskLevelChanged": lambda: {"previous": event.previous, "risk_level": event.risk_level,
                                     "next_due": event.next_due, "cause": getattr(event, "cause", None)},
        "CasePlanDrafted": lambda: {"goals": len(event.goals)},
        "CasePlanSubmitted": lambda: {"submission": event.submission, "case_number": event.case_number,
                                      "risk_level": event.risk_level, "is_child": event.is_child,
                                      "approval_required": getattr(event, "approval_required", False)},
        "FollowUpRecorded": lambda: {"contacted": event.contacted, "next_due": event.next_due},
        "FollowUpOverdue": lambda: {"due": event.due},
        "CaseConferenceHeld": lambda: {"held_on": event.held_on},
        "ClosureRequested": lambda: {"reason": event.reason, "submission": event.submission,
                                     "case_number": event.case_number, "risk_level": event.risk_level,
                                     "is_child": event.is_child},
        "CaseClosed": lambda: {"reason": event.reason},
        "CaseReopened": lambda: {"next_due": event.next_due},
        "CaseReassigned": lambda: {"previous": event.previous, "assigned_to": event.caseworker},
        "CaseErased": lambda: {"case_id": str(event.originator_id)},
    }
    return (kind, simple[kind]()) if kind in simple else None


REFERRAL_TABLE = (
    # Each case's referrals and their status, as the referrals service announces them.
    "CREATE TABLE IF NOT EXISTS {schema}.case_referrals (referral_id uuid PRIMARY KEY, case_id uuid NOT NULL,"
    " provider_id uuid NOT NULL, service_type text NOT NULL, status text NOT NULL, version integer NOT NULL)",
    "CREATE INDEX IF NOT EXISTS case_referrals_case ON {schema}.case_referrals (case_id)",
)


def master_key() -> bytes:
    key = base64.b64decode(env("CASES_MASTER_KEY"))
    if len(key) != 32:
        raise RuntimeError("CASES_MASTER_KEY must be 32 bytes, base64-encoded")
    return key


class CasesStore(ServiceStore):
    name = "cases"
    tables = (CaseIndex.TABLES + REFERRAL_TABLE + KEY_TABLE
              + ("CREATE SEQUENCE IF NOT EXISTS {schema}.case_number_seq",))
    snapshotting_intervals = {Case: 100}

    def __init__(self, settings):
        super().__init__(settings)
        self.keys = self.mapper.keys = CaseKeys(self, master_key(), float(env("CASE_KEY_CACHE_SECONDS", "10")))
        self.audit_keys = AuditKeys.from_env()  # signs exports and checkpoints; refuses to start without it

    def construct_mapper(self):
        return self.factory.mapper(transcoder=self.construct_transcoder(), mapper_class=SealingMapper)

    def chain_of(self, recorded):
        """One audit chain per case: the case file, its consent and who read it."""
        if isinstance(recorded, Case):
            return recorded.id
        return getattr(recorded, "case_id", None)

    @staticmethod
    def streams_of(case_id: UUID) -> list[UUID]:
        return [case_id, Consent.id_for(case_id), CaseAccess.id_for(case_id), CaseActivity.id_for(case_id)]

    def clock(self) -> datetime:
        """Now. Tests replace it to travel in time."""
        return datetime.now(UTC)

    # --- reading ----------------------------------------------------------------------

    def case_for(self, caller: dict, case_id: UUID, action: str) -> Case:
        """The case, once the access policy lets the caller do `action` on it."""
        return policy.decide(caller, action, lambda: self._get(case_id, Case))

    def read_case(self, caller: dict, case_id: UUID) -> Case:
        case = self.case_for(caller, case_id, "read")
        self.record_view(caller, case_id, "case")
        return case

    def case_as_of(self, caller: dict, case_id: UUID, moment: datetime) -> tuple[Case, Consent | None, dict]:
        """The case file, its consent, and its referrals and approvals, as they were at `moment`."""
        self._readable(caller, case_id, "as_of")
        self.record_view(caller, case_id, "as_of")
        version = self._version_at(case_id, moment)
        if version is None:
            raise NotFound("The case did not exist at that time.")
        consent_version = self._version_at(Consent.id_for(case_id), moment)
        consent = self.repository.get(Consent.id_for(case_id), version=consent_version) if consent_version else None
        return self.repository.get(case_id, version=version), consent, self.activity_of(case_id, moment)

    def activity_of(self, case_id: UUID, moment: datetime | None = None) -> dict:
        """Referrals and approvals as the case's activity stream says they were at `moment` (or now)."""
        events = self.events.get(CaseActivity.id_for(case_id))
        return activity_view(e for e in events if moment is None or e.timestamp <= moment)

    def consent_of(self, case_id: UUID) -> Consent | None:
        try:
            return self.repository.get(Consent.id_for(case_id))
        except AggregateNotFoundError:
            return None

    def list_cases(self, caller: dict, filters: dict) -> dict:
        where, params = ["assigned_to = ANY(%s)"], [policy.caseworkers_seen(caller)]
        for column in ("stage", "risk_level", "assigned_to"):
            if column in filters:
                where.append(f"{column} = %s")
                params.append(filters[column])
        if "overdue" in filters:
            where.append("(stage <> 'closed' AND next_due IS NOT NULL AND next_due < %s) = %s")
            params += [self.clock(), filters["overdue"]]
        if filters.get("cursor"):
            where.append("case_number > %s")
            params.append(_read_cursor(filters["cursor"]))
        limit = filters["limit"]
        with self.datastore.transaction() as curs:
            curs.execute(self.sql(
                "SELECT case_id, case_number, stage, risk_level, assigned_to, is_child, next_due,"
                " version, created_at, updated_at FROM {schema}.case_index WHERE " + " AND ".join(where) +
                " ORDER BY case_number LIMIT %s"), [*params, limit + 1])
            rows = curs.fetchall()
        items = [_index_item(row, self.clock()) for row in rows[:limit]]
        more = len(rows) > limit
        return {"items": items, "next_cursor": _make_cursor(items[-1]["case_number"]) if more else None}

    # --- figures for /metrics -----------------------------------------------------------

    def domain_gauges(self) -> list:
        with self.datastore.transaction() as curs:
            curs.execute(self.sql("SELECT stage, risk_level, count(*) AS n FROM {schema}.case_index"
                                  " GROUP BY stage, risk_level"))
            counts = {(row["stage"], row["risk_level"]): row["n"] for row in curs.fetchall()}
            curs.execute(self.sql("SELECT count(*) AS n FROM {schema}.case_index"
                                  " WHERE stage <> 'closed' AND next_due < %s"), (self.clock(),))
            overdue = curs.fetchone()["n"]
        open_stages = [s for s in Stage if s != Stage.CLOSED]
        return [
            gauge("casetrail_open_cases", "Open cases by stage and risk level", ["stage", "risk_level"],
                  [(stage, risk, counts.get((stage, risk), 0)) for stage in open_stages for risk in RiskLevel]),
            gauge("casetrail_closed_cases", "Closed cases", [], [(sum(n for (s, _), n in counts.items() if s == "closed"),)]),
            gauge("casetrail_overdue_follow_ups", "Open cases whose follow-up due time has passed", [], [(overdue,)]),
        ]

    # --- audit ------------------------------------------------------------------------

    def record_view(self, caller: dict, case_id: UUID, view: str) -> None:
        """Who read the case file, and when."""
        self._append(CaseAccess.id_for(case_id), CaseAccess.CaseViewed,
                     dict(by=recorded_by(caller), case_id=case_id, view=view))

    def _append(self, stream: UUID, kind: type, fields: dict, *, along: Callable[[], list] = list,
                inbox: tuple | None = None, statements=()) -> bool:
        """Appends one event of `kind` to a stream that many write to (reads of a case, what other
        services did to it), saving `along()` in the same transaction. Writers that race for the next
        version are retried apart. With `inbox`, once only: False if that bus event was recorded before."""
        for attempt in range(30):
            if inbox and self.processed(*inbox):
                return False
            last = self.recorder.select_events(stream, desc=True, limit=1)
            appended = kind(originator_id=stream, originator_version=last[0].originator_version + 1 if last else 1,
                            timestamp=kind.create_timestamp(), **fields)
            try:
                self.save(*along(), appended, inbox=inbox, statements=statements)
                return True
            except IntegrityError:
                time.sleep(random.uniform(0, 0.005 * (attempt + 1)))  # apart, so the next try finds a free version
        raise Conflict("The case is being changed by many at once; try again.")

    def history(self, caller: dict, case_id: UUID, after: int = 0, limit: int = 200, record: bool = True) -> dict:
        """Every event on the case in chain order, each with its link's hash and the one before."""
        self._readable(caller, case_id, "history")
        links = self.chain(case_id, max(after - 1, 0), limit + 2)
        prev_hash = links.pop(0)["hash"] if after and links and links[0]["sequence"] == after else GENESIS
        items = []
        for link in links[:limit]:
            items.append(self._history_item(link, prev_hash, redact=policy.redacted_for(caller)))
            prev_hash = link["hash"]
        if record:
            self.record_view(caller, case_id, "history")
        more = len(links) > limit
        return {"items": items, "next_cursor": str(items[-1]["sequence"]) if more else None}

    def full_history(self, caller: dict, case_id: UUID) -> list[dict]:
        """Every page of the history, as one list; not recorded as a read (the caller records its own)."""
        items, cursor = [], 0
        while True:
            page = self.history(caller, case_id, cursor, 200, record=False)
            items += page["items"]
            if not page["next_cursor"]:
                return items
            cursor = int(page["next_cursor"])

    def _history_item(self, link: dict, prev_hash: str, redact: bool) -> dict:
        item = {"sequence": link["sequence"], "hash": link["hash"], "prev_hash": prev_hash}
        if link["topic"] is None:
            return {**item, "type": None, "missing": True}
        try:
            event = self.mapper.to_domain_event(StoredEvent(
                originator_id=link["originator_id"], originator_version=link["originator_version"],
                topic=link["topic"], state=bytes(link["state"])))
        except Exception:  # a damaged row: the history still answers, verification names it
            return {**item, "type": None, "unreadable": True}
        kind = type(event).__name__
        data = {k: v for k, v in vars(event).items() if k not in _NOT_DATA}
        if redact:
            data = redacted(data, IDENTIFYING.get(kind, ()))
        return {**item, "type": kind, "occurred_at": _iso(event.timestamp),
                "actor": {"username": event.by.get("username"), "role": event.by.get("role")},
                "correlation_id": event.by.get("correlation_id"),
                "stream": _STREAMS.get(type(event).__qualname__.split(".")[0], "case"),
                "stream_version": event.originator_version, "data": _plain(data)}

    def verify(self, caller: dict, case_id: UUID) -> dict:
        self._readable(caller, case_id, "verify")
        return self.verify_chain(case_id, self.streams_of(case_id))

    def export(self, caller: dict, case_id: UUID) -> dict:
        """The case's audit bundle: redacted history, state and verification, with the head hash, signed
        (services/cases/attestation.py). Recorded as a view, by the reader, after it is made."""
        self._readable(caller, case_id, "export")
        verification = self.verify_chain(case_id, self.streams_of(case_id))
        history = self.full_history(caller, case_id)
        if not policy.redacted_for(caller):  # a caseworker's export is redacted too: it is meant to travel
            history = [{**item, "data": redacted(item["data"], IDENTIFYING.get(item["type"], ()))}
                       if "data" in item else item for item in history]
        if verification["valid"]:  # what was written since the verification is the next export's
            history = [item for item in history if item["sequence"] <= verification["events"]]
        try:
            state = case_view(self._get(case_id, Case), now=self.clock(), redact=True, **self.activity_of(case_id))
        except Exception as damaged:  # a damaged event: the bundle still carries the history and verdict
            state = {"unreadable": type(damaged).__name__}
        bundle = seal_bundle({
            "case_id": str(case_id), "case_number": state.get("case_number"), "exported_at": _iso(self.clock()),
            "exported_by": {"username": caller["username"], "role": caller["role"]},
            "verification": verification, "head_hash": verification["head_hash"], "state": state,
            "history": history}, self.audit_keys)
        self.record_view(caller, case_id, "audit_export")
        return bundle

    def public_keys(self) -> dict:
        return {"keys": self.audit_keys.public_keys()}

    # --- checkpoints: every chain's head, signed, kept outside the database -----------------

    def chain_heads(self) -> dict[str, tuple[int, str]]:
        with self.datastore.transaction() as curs:
            curs.execute(self.sql("SELECT chain_id, sequence, hash FROM {schema}.audit_heads"))
            return {str(row["chain_id"]): (row["sequence"], row["hash"]) for row in curs.fetchall()}

    def hash_at(self, chain_id: str, sequence: int) -> str | None:
        with self.datastore.transaction() as curs:
            curs.execute(self.sql("SELECT hash FROM {schema}.audit_chain WHERE chain_id = %s AND sequence = %s"),
                         (chain_id, sequence))
            row = curs.fetchone()
        return row["hash"] if row else None

    def write_checkpoint(self, directory: Path, only_if_changed: bool = False) -> Path | None:
        """Signs a checkpoint of every chain's head and writes it to `directory` (meant to be write-once
        storage). With `only_if_changed`, nothing is written when no chain grew since the latest one."""
        heads = [{"chain_id": c, "sequence": n, "hash": h} for c, (n, h) in self.chain_heads().items()]
        checkpoint = make_checkpoint(heads, self.audit_keys, self.clock())
        if only_if_changed:
            latest = latest_checkpoint(directory, keyring(self.public_keys()))
            if latest and latest["merkle_root"] == checkpoint["merkle_root"]:
                return None
        return write_checkpoint(directory, checkpoint)

    def against_checkpoint(self, directory: Path) -> dict:
        """Every chain held against the latest checkpoint: which were rewritten, shortened or removed
        since. CheckpointInvalid if the latest checkpoint itself does not hold."""
        latest = latest_checkpoint(directory, keyring(self.public_keys()))
        if latest is None:
            return {"checkpoint": None, "drifted": {}}
        drifted = compare_with_checkpoint(latest, self.chain_heads(), self.hash_at)
        return {"checkpoint": {"created_at": latest["created_at"], "chains": latest["chains"],
                               "events": latest["events"], "merkle_root": latest["merkle_root"]},
                "drifted": drifted}

    def erase(self, caller, case_id, data, options) -> Case:
        """Crypto-shredding: the CaseErased event and the key's destruction commit together."""
        case = self._change(caller, case_id, "erase", data, options, lambda case: case.erase(
            data["reason"], by=recorded_by(caller), now=self.clock()), destroy_key=True)
        self.keys.forget(case_id)
        return self.repository.get(case_id)

    # --- other services' free text about a case, sealed with its key -------------------------

    def seal_texts(self, caller: dict, case_id: UUID, texts: list[str | None], vouched: bool = False
                   ) -> list[str | None]:
        self._texts_allowed(caller, [case_id], vouched)
        key = self._existing_key(case_id)
        return [None if text is None else seal(key, case_id, text) for text in texts]

    def open_texts(self, caller: dict, pairs: list[tuple[UUID, str]], vouched: bool = False) -> list:
        self._texts_allowed(caller, {case_id for case_id, _ in pairs}, vouched)
        return [open_sealed(self._existing_key(case_id), case_id, value) for case_id, value in pairs]

    def _texts_allowed(self, caller: dict, case_ids, vouched: bool = False) -> None:
        """The access policy on each case, from the index (one query for a whole list of referrals);
        a case not yet in the index is loaded. `vouched`: the referrals service says each case was
        referred to the caller's provider (its ReferralMade may still be on the way here)."""
        case_ids = list(case_ids)
        with self.datastore.transaction() as curs:
            curs.execute(self.sql("SELECT case_id, assigned_to FROM {schema}.case_index WHERE case_id = ANY(%s)"),
                         (case_ids,))
            indexed = {row["case_id"]: _Indexed(row["assigned_to"]) for row in curs.fetchall()}
            curs.execute(self.sql("SELECT DISTINCT case_id FROM {schema}.case_referrals"
                                  " WHERE case_id = ANY(%s) AND provider_id::text = %s"),
                         (case_ids, str(caller.get("provider_id"))))
            referred = {row["case_id"] for row in curs.fetchall()}
        for case_id in case_ids:
            standing = indexed.get(case_id) or self._standing(case_id)
            policy.permit_texts(caller, standing, vouched or case_id in referred)

    def _existing_key(self, case_id: UUID) -> bytes | None:
        try:
            return self.keys.key_for(case_id, create=False)
        except KeyMissing:
            raise NotFound("No such case.") from None

    def _readable(self, caller: dict, case_id: UUID, action: str) -> None:
        """The access policy's decision on a read of the case's record. A case whose stored events were
        damaged must still be open to inspection: then the index says who holds it."""
        policy.decide(caller, action, lambda: self._standing(case_id))

    def _standing(self, case_id: UUID):
        try:
            return self._get(case_id, Case)  # the case itself, never a lagging index: reassignment is at once
        except NotFound:
            raise
        except Exception:  # a damaged event: the history and verification still answer
            with self.datastore.transaction() as curs:
                curs.execute(self.sql("SELECT assigned_to FROM {schema}.case_index WHERE case_id = %s"),
                             (case_id,))
                row = curs.fetchone()
            if row is None:
                raise NotFound("No such case.") from None
            return _Indexed(row["assigned_to"])

    # --- commands ---------------------------------------------------------------------

    def register_case(self, caller: dict, data: dict, idempotency_key: str | None = None) -> Case:
        policy.permit(caller, "register_case")
        return self.create_once(Case, caller, idempotency_key, data, lambda case_id, request_hash: Case(
            id=case_id, case_number=self._next_case_number(), assigned_to=caller["username"],
            request_hash=request_hash, by=recorded_by(caller), registered_at=self.clock().isoformat(), **data))

    def record_consent(self, caller, case_id, terms, options) -> Consent:
        def record(case: Case) -> Consent:
            consent = self.consent_of(case.id)
            if consent is None:
                return Consent(id=Consent.id_for(case.id), case_id=case.id, terms=terms, by=recorded_by(caller))
            consent.record(terms, by=recorded_by(caller))
            return consent
        return self._change(caller, case_id, "record_consent", terms, options, record)

    def withdraw_consent(self, caller, case_id, options) -> Consent:
        def withdraw(case: Case) -> Consent:
            consent = self.consent_of(case.id)
            if consent is None:
                raise NotFound("No consent has been recorded for this case.")
            consent.withdraw(by=recorded_by(caller))
            return consent
        return self._change(caller, case_id, "withdraw_consent", {}, options, withdraw)

    def assess(self, caller, case_id, data, options) -> Case:
        return self._change(caller, case_id, "assess", data, options, lambda case: case.assess(
            consent=self.consent_of(case.id), by=recorded_by(caller), **data))

    def draft_plan(self, caller, case_id, data, options) -> Case:
        return self._change(caller, case_id, "draft_plan", data, options, lambda case: case.draft_plan(
            data["goals"], data.get("child_participation"), by=recorded_by(caller)))

    def submit_plan(self, caller, case_id, options) -> Case:
        return self._change(caller, case_id, "submit_plan", {}, options,
                            lambda case: case.submit_plan(by=recorded_by(caller), consent=self.consent_of(case.id)))

    def record_follow_up(self, caller, case_id, data, options) -> Case:
        monitoring = {k: data[k] for k in ("mode", "spoken_to", "domain_ratings", "raise_risk_to", "raise_reason")
                      if k in data}
        return self._change(caller, case_id, "record_follow_up", data, options, lambda case: case.record_follow_up(
            data["contacted"], _moment(data["contact_date"]), data["safety_reassessed"], data.get("risk_level"),
            data.get("notes"), by=recorded_by(caller), now=self.clock(), monitoring=monitoring))

    def hold_conference(self, caller, case_id, data, options) -> Case:
        return self._change(caller, case_id, "hold_conference", data, options, lambda case: case.hold_conference(
            data["held_on"], data["participants"], data["decisions"], data.get("next_steps"), by=recorded_by(caller)))

    def request_closure(self, caller, case_id, data, options) -> Case:
        return self._change(caller, case_id, "request_closure", data, options, lambda case: case.request_closure(
            data["reason"], data["notes"], by=recorded_by(caller), now=self.clock()))

    def reopen(self, caller, case_id, data, options) -> Case:
        return self._change(caller, case_id, "reopen", data, options, lambda case: case.reopen(
            data["reason"], by=recorded_by(caller), now=self.clock()))

    def reassign(self, caller, case_id, data, options) -> Case:
        return self._change(caller, case_id, "reassign", data, options, lambda case: case.reassign(
            data["caseworker"], caller.get("team", []), by=recorded_by(caller)))

    def give_feedback(self, caller, case_id, data, options) -> Case:
        return self._change(caller, case_id, "give_feedback", data, options, lambda case: case.give_feedback(
            data["answers"], by=recorded_by(caller)))

    # --- reactions --------------------------------------------------------------------

    def apply_decision(self, envelope: dict) -> bool:
        """A supervisor's (or the policy's) decision from the approvals service: recorded in the case's
        activity and applied to the case, together and once."""
        payload = envelope["payload"]

        def decided_case() -> list:
            case = self._get(payload["case_id"], Case)
            approved = envelope["event_type"] in ("CasePlanApproved", "ClosureApproved")
            if envelope["event_type"].startswith("CasePlan"):
                case.decide_plan(payload["submission"], approved, payload["decided_by"], by=_actor(envelope),
                                 now=self.clock())
            else:
                case.decide_closure(payload["submission"], approved, payload["decided_by"], by=_actor(envelope))
            return [case]
        return self._record_approval(envelope, "approval_decisions", along=decided_case)

    def approval_requested(self, envelope: dict) -> bool:
        return self._record_approval(envelope, "approval_requests")

    def _record_approval(self, envelope: dict, consumer: str, along: Callable[[], list] = list) -> bool:
        payload = envelope["payload"]
        case_id = self._known_case(payload["case_id"])
        return self._append(CaseActivity.id_for(case_id), CaseActivity.ApprovalRecorded, dict(
            by=_actor(envelope), case_id=case_id, event_type=envelope["event_type"],
            occurred_at=_iso(envelope["occurred_at"]), approval=payload["type"], submission=payload["submission"],
            requested_by=payload["requested_by"], decided_by=payload.get("decided_by"),
            commented=bool(payload.get("commented"))), along=along, inbox=(consumer, envelope["event_id"]))

    def referral_changed(self, envelope: dict) -> bool:
        """A referral made, accepted, declined, completed or withdrawn: recorded in the case's activity
        once, and the case's list of referrals brought up to date. Redelivered or overtaken events never
        move a referral back: its version orders them."""
        payload = envelope["payload"]
        case_id = self._known_case(payload["case_id"])
        upsert = (self.sql(
            "INSERT INTO {schema}.case_referrals VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (referral_id)"
            " DO UPDATE SET status = EXCLUDED.status, version = EXCLUDED.version"
            " WHERE case_referrals.version < EXCLUDED.version"),
            (payload["referral_id"], case_id, payload["provider_id"], payload["service_type"], payload["status"],
             envelope["aggregate_version"]))
        return self._append(CaseActivity.id_for(case_id), CaseActivity.ReferralRecorded, dict(
            by=_actor(envelope), case_id=case_id, event_type=envelope["event_type"],
            occurred_at=_iso(envelope["occurred_at"]), referral_id=str(payload["referral_id"]),
            referral_version=envelope["aggregate_version"], provider_id=str(payload["provider_id"]),
            service_type=payload["service_type"], status=payload["status"]),
            inbox=("referrals", envelope["event_id"]), statements=[upsert])

    def _known_case(self, case_id: UUID) -> UUID:
        """Another service's news of a case this store never held is not recorded (NotFound: set aside)."""
        if not self.recorder.select_events(case_id, limit=1):
            raise NotFound("No such case.")
        return case_id

    def referrals_of(self, case_id: UUID) -> list[dict]:
        with self.datastore.transaction() as curs:
            curs.execute(self.sql("SELECT referral_id, provider_id, service_type, status FROM {schema}.case_referrals"
                                  " WHERE case_id = %s ORDER BY referral_id"), (case_id,))
            return [{k: str(v) for k, v in row.items()} for row in curs.fetchall()]

    def flag_overdue_follow_ups(self, limit: int = 500) -> int:
        """Emits FollowUpOverdue once per missed due time. Finds them in the index, not by replaying."""
        now = self.clock()
        with self.datastore.transaction() as curs:
            curs.execute(self.sql(
                "SELECT case_id FROM {schema}.case_index WHERE stage <> 'closed'"
                " AND next_due IS DISTINCT FROM overdue_flagged AND next_due < %s ORDER BY next_due LIMIT %s"),
                (now, limit))
            due = [row["case_id"] for row in curs.fetchall()]
        flagged = 0
        for case_id in due:
            case = self.repository.get(case_id)
            if case.flag_overdue(case.next_due, now, by=SYSTEM):
                try:
                    self.save(case)
                    flagged += 1
                except IntegrityError:
                    pass  # changed meanwhile (a follow-up, or another instance flagged it)
        return flagged

    # --- plumbing ---------------------------------------------------------------------

    def _change(self, caller: dict, case_id: UUID, command: str, data: dict, options: dict,
                change: Callable, destroy_key: bool = False):
        """get → decide (the access policy) → call → save, honouring If-Match and Idempotency-Key."""
        key, if_match = options.get("idempotency_key"), options.get("if_match")
        request_hash = fingerprint({"command": command, "case": str(case_id), "data": data})
        for attempt in range(3):
            if key and (first := self._replay(caller, key, request_hash)):
                return first
            case = self.case_for(caller, case_id, command)
            if if_match is not None and if_match != case.version:
                raise VersionMismatch(f"The case is at version {case.version}; reload it before changing it.")
            changed = change(case) or case
            replay = (caller["username"], key, request_hash, changed.id, changed.version, 0) if key else None
            extra = {"statements": [self.keys.destruction(case.id)]} if destroy_key else {}
            try:
                self.save(changed, idempotency=replay, **extra)
                return changed
            except IntegrityError:
                # Someone (often the service itself: a timer, a decision) wrote first. Without
                # If-Match the caller asked for no precondition: apply the command to the new state.
                if if_match is not None:
                    break
        if key and (first := self._replay(caller, key, request_hash)):
            return first
        raise VersionMismatch("The case changed while this was being saved; reload it and try again.")

    def _replay(self, caller: dict, key: str, request_hash: str):
        first = self.first_answer(caller["username"], key)
        if first is None:
            return None
        if first["request_hash"] != request_hash:
            raise Conflict("This Idempotency-Key was used for a different request.")
        return self.repository.get(first["aggregate_id"], version=first["version"])

    def _get(self, aggregate_id: UUID, kind: type):
        return self.get_one(aggregate_id, kind, "No such case.")

    def _version_at(self, aggregate_id: UUID, moment: datetime) -> int | None:
        version = None
        for stored in self.events.get(aggregate_id):
            if stored.timestamp > moment:
                break
            version = stored.originator_version
        return version

    def _next_case_number(self) -> str:
        with self.transaction() as curs:
            curs.execute(self.sql("SELECT nextval('{schema}.case_number_seq') AS n"))
            n = curs.fetchone()["n"]
        return f"{env('CASE_NUMBER_PREFIX', 'GBV')}-{self.clock().year}-{n:06d}"


class _Indexed:
    """A case known only from the index (its events damaged): who holds it; open to reading only."""

    def __init__(self, assigned_to: str):
        self.assigned_to = assigned_to

    def refusal(self, action: str) -> str:
        return "The case's stored events are damaged; it can be read and verified, not changed."


def _actor(envelope: dict) -> dict:
    """Who did it, as the announcing service recorded: an event's `by`."""
    return {**envelope["actor"], "correlation_id": envelope["correlation_id"]}


def _moment(value: str) -> datetime:
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _make_cursor(case_number: str) -> str:
    return base64.urlsafe_b64encode(case_number.encode()).decode()


def _read_cursor(cursor: str) -> str:
    try:
        case_number = base64.b64decode(cursor.encode(), altchars=b"-_", validate=True).decode()
    except (ValueError, UnicodeDecodeError):
        case_number = None
    # A cursor names a case number: one short line (what decodes to NUL would reach the query).
    if case_number is None or len(case_number) > 64 or refusal(case_number) is not None:
        raise InvalidInput({"cursor": ["Not a cursor this list gave out."]})
    return case_number


def _index_item(row: dict, now: datetime) -> dict:
    return {"id": str(row["case_id"]), "case_number": row["case_number"], "stage": row["stage"],
            "risk_level": row["risk_level"], "assigned_to": row["assigned_to"], "is_child": row["is_child"],
            "version": row["version"],
            "follow_up": {"next_due": _iso(row["next_due"]),
                          "overdue": bool(row["next_due"] and row["stage"] != "closed" and row["next_due"] < now)},
            "created_at": _iso(row["created_at"]), "updated_at": _iso(row["updated_at"])}


def _iso(moment) -> str | None:
    if moment is None:
        return None
    if isinstance(moment, str):
        moment = _moment(moment)
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


_NOT_DATA = ("originator_id", "originator_version", "originator_topic", "timestamp", "by", "request_hash")
_STREAMS = {"Case": "case", "Consent": "consent", "CaseAccess": "access", "CaseActivity": "activity"}


def _plain(value):
    """Event data as JSON: ids and times as strings."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, datetime):
        return _iso(value)
    return value


def consent_view(consent: Consent | None) -> dict | None:
    if consent is None:
        return None
    return {**consent.terms, "withdrawn": consent.withdrawn, "version": consent.version,
            "recorded_at": _iso(consent.modified_on)}


def case_view(case: Case, consent: Consent | None = None, now: datetime | None = None,
              redact: bool = False, referrals: list[dict] | None = None, approvals: list[dict] | None = None) -> dict:
    """The case file as the contract shows it (GET /v1/cases/{id}). A closed case file never
    carries the consent record; an auditor's view never carries identifying fields."""
    now = now or datetime.now(UTC)
    view = {
        "id": str(case.id), "case_number": case.case_number, "version": case.version,
        "stage": case.stage, "risk_level": case.risk_level, "assigned_to": case.assigned_to,
        "is_child": case.is_child, "survivor": case.survivor, "caregiver": case.caregiver,
        "unaccompanied": case.unaccompanied if case.is_child else None,
        "intake_notes": case.intake_notes,
        "consent": None if case.stage == "closed" else consent_view(consent),
        "assessment": case.assessment,
        "plan": {k: v for k, v in case.plan.items() if k != "submission"},
        "follow_up": {"next_due": _iso(case.next_due), "overdue": case.is_overdue(now),
                      "last_contact": case.last_contact and dict(case.last_contact, date=_iso(case.last_contact["date"])),
                      "count": case.follow_ups},
        "closure": {k: v for k, v in case.closure.items() if k != "submission"},
        "monitoring": case.monitoring and {**case.monitoring, "risk_level": case.risk_level,
                                           "ratings": {d: dict(r, rated_at=_iso(r["rated_at"]))
                                                       for d, r in case.monitoring["ratings"].items()}},
        "conferences": case.conferences,
        "referrals": referrals or [],
        "approvals": approvals or [],
        "erasure": case.erasure,
        "created_at": _iso(case.created_on), "updated_at": _iso(case.modified_on),
    }
    return redacted(view, CASE_FILE) if redact else view
