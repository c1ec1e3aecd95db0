"""Each service's use cases over in-memory persistence: one bootstrap per service (`cases()`,
`referrals()`, `approvals()`, `notifications()`, `identity()`) for tests/unit/test_use_cases_*.py.

Each builds the service's own store class (the class nameko's `EventSourced` builds over PostgreSQL)
with `shared.memory.InMemory` first in its bases, and answers the few reads and writes that are SQL in
production with plain Python over `store.tables`, following the SQL they stand for (named in each
docstring). Read models that PostgreSQL keeps by following the log (the case index, the referral
directory) are answered from the aggregates themselves. Nothing here connects to anything."""
import os
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any, ClassVar
from uuid import UUID

from argon2 import PasswordHasher
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from services.approvals.application import Approvals
from services.approvals.domain import Approval  # noqa: F401  (for the tests)
from services.approvals.queries import ApprovalQueries, request_of
from services.cases.application import Cases
from services.cases.attestation import AuditKeys
from services.cases.domain import Case
from services.cases.protection import CaseKeys
from services.cases.queries import Indexed
from services.cases.settings import CasesSettings
from services.gateway.application import Identity
from services.notifications.application import Notifications
from services.notifications.destinations import AllowList
from services.notifications.domain import Escalation, Webhook
from services.notifications.settings import MailSettings, NotificationsSettings, WebhookSettings
from services.referrals.application import Referrals
from services.referrals.domain import Provider, Referral
from services.referrals.policy import CaseState, Listing
from services.referrals.queries import ReferralQueries
from shared.envelope import make_envelope, read_envelope  # noqa: F401  (re-exported for tests)
from shared.memory import InMemory, Tables, memory_settings
from shared.organisations import organisation_or_first
from shared.store import ServiceStore
from shared.vocabulary import Stage


def aggregates(store: Any, kind: type) -> Iterator[Any]:
    """Every aggregate of `kind` in an in-memory store, in the order they were created."""
    prefix = f"{kind.__module__}:{kind.__qualname__}."
    for originator_id in store.recorder.originators():
        first = store.recorder.select_events(originator_id, limit=1)
        if first and first[0].topic.startswith(prefix):
            yield store.repository.get(originator_id)


def published(store: ServiceStore, publication: Callable, after: int = 0) -> list[dict]:
    """What the outbox relay would publish of the store's events after notification `after`: each public
    event as its envelope, validated on the way out and on the way in (shared/envelope.py)."""
    envelopes = []
    for notification in store.recorder.select_notifications(start=after + 1, limit=1_000_000):
        event: Any = store.mapper.to_domain_event(notification)
        public = publication(event)
        if public is not None:
            envelopes.append(read_envelope(make_envelope(
                source=store.settings.service, event_type=public[0], aggregate_id=event.originator_id,
                aggregate_version=event.originator_version, occurred_at=event.timestamp, by=event.by,
                payload=public[1])))
    return envelopes


def record_case_state(tables: Tables, envelope: dict) -> None:
    """shared/case_state.py `record`: each aspect changes only for a newer version; erasure is for good."""
    kind, case_id, version = envelope["event_type"], UUID(str(envelope["aggregate_id"])), envelope["aggregate_version"]
    row = tables.setdefault("case_state", {}).setdefault(case_id, {
        "assigned_to": None, "assigned_version": 0, "closed": False, "closed_version": 0, "erased": False})
    if kind == "CaseRegistered":  # its organisation: set once, by the registration
        row["organisation"] = organisation_or_first(envelope["payload"].get("organisation"))
    if kind == "CaseErased":
        row["erased"] = True
    elif kind in ("CaseRegistered", "CaseReassigned"):
        if row["assigned_version"] < version:
            row["assigned_to"], row["assigned_version"] = envelope["payload"]["assigned_to"], version
    elif row["closed_version"] < version:
        row["closed"], row["closed_version"] = kind == "CaseClosed", version


# --- cases ---------------------------------------------------------------------------------------

class MemoryCaseKeys(CaseKeys):
    """services/cases/protection.py's `case_keys` table, in `tables["case_keys"]`."""

    def _row(self, case_id: UUID, wrapped_new: tuple[bytes, str] | None) -> dict | None:
        with self.store.transaction() as tables:
            keys = tables.setdefault("case_keys", {})
            if wrapped_new is not None and case_id not in keys:
                keys[case_id] = {"wrapped_key": wrapped_new[0], "master_key_id": wrapped_new[1], "erased_at": None}
            return keys.get(case_id)

    def destruction(self, case_id: UUID) -> Callable[[Tables], None]:
        def destroy(tables: Tables) -> None:
            tables.setdefault("case_keys", {})[case_id] = {"wrapped_key": None, "erased_at": datetime.now(UTC)}
        return destroy


class MemoryCases(InMemory, Cases):
    keys_class: ClassVar[type[CaseKeys]] = MemoryCaseKeys

    def cases(self) -> list[Case]:
        return list(aggregates(self, Case))

    def next_case_number(self) -> str:
        with self.transaction() as tables:
            tables["case_number_seq"] = n = tables.get("case_number_seq", 0) + 1
        return f"GBV-{self.clock().year}-{n:06d}"

    def holders(self, case_ids: list[UUID]) -> dict[UUID, Indexed]:
        return {case.id: Indexed(case.assigned_to, case.organisation) for case in self.cases() if case.id in case_ids}

    def referred_to(self, provider_id: str | None, case_ids: list[UUID]) -> set[UUID]:
        return {row["case_id"] for row in self.tables.get("case_referrals", {}).values()
                if row["case_id"] in case_ids and str(row["provider_id"]) == str(provider_id)}

    def due_follow_ups(self, now: datetime, limit: int) -> list[UUID]:
        """The case index's `next_due IS DISTINCT FROM overdue_flagged AND next_due < now` on open cases."""
        due = [case for case in self.cases() if case.stage != Stage.CLOSED and case.next_due is not None
               and case.next_due not in case.overdue_flagged[-1:] and datetime.fromisoformat(case.next_due) < now]
        return [case.id for case in sorted(due, key=lambda case: case.next_due)][:limit]

    def referral_status(self, referral_id, case_id: UUID, provider_id, service_type: str, status: str,
                        version: int) -> Callable[[Tables], None]:
        def upsert(tables: Tables) -> None:
            rows = tables.setdefault("case_referrals", {})
            row = rows.get(UUID(str(referral_id)))
            if row is None:
                rows[UUID(str(referral_id))] = {"case_id": case_id, "provider_id": provider_id,
                                                "service_type": service_type, "status": status, "version": version}
            elif row["version"] < version:
                row.update(status=status, version=version)
        return upsert


def cases_settings() -> CasesSettings:
    """The cases service's settings for a store in memory: fresh keys, README's defaults; never read
    from the environment."""
    return CasesSettings(**memory_settings("cases").plumbing(), master_key=AESGCM.generate_key(bit_length=256),
                         case_key_cache_seconds=10.0, case_number_prefix="GBV",
                         audit_keys=AuditKeys(Ed25519PrivateKey.generate()), checkpoint_dir=None,
                         checkpoint_seconds=3600.0, overdue_scan_seconds=60.0, approvals_timeout=5.0,
                         changes_wait=2.5)


def cases() -> MemoryCases:
    return MemoryCases(cases_settings())


# --- referrals -------------------------------------------------------------------------------------

class MemoryReferralQueries(ReferralQueries):
    """services/referrals/queries.py over `tables`: `case_state`, `consent`, `referral_cases`; the directory
    (providers, the referral index) from the aggregates."""

    @property
    def tables(self) -> Tables:
        return self.store.tables

    def case_state(self, case_id: UUID) -> CaseState:
        row = self.tables.get("case_state", {}).get(case_id, {})
        consent = self.tables.get("consent", {}).get(case_id, {})
        return CaseState(assigned_to=row.get("assigned_to"), closed=row.get("closed", False),
                         erased=row.get("erased", False),
                         consent=bool(consent.get("services") and consent.get("share_with_providers")))

    def referral_ids_of_case(self, case_id: UUID) -> list[UUID]:
        return [row["referral_id"] for row in self.tables.get("referral_cases", []) if row["case_id"] == case_id]

    def page_of_case(self, case_id: UUID, after: tuple | None, limit: int) -> list[dict]:
        rows = [row for row in self.tables.get("referral_cases", []) if row["case_id"] == case_id]
        return _newest_first(rows, after, limit)

    def listed(self, listing: Listing, after: tuple | None, limit: int) -> list[dict]:
        referrals = list(aggregates(self.store, Referral))
        if listing.holders is None:
            chosen = [r for r in referrals if str(r.provider_id) == str(listing.provider_id)]
        else:
            chosen = [r for r in referrals if self.case_state(r.case_id).assigned_to in listing.holders]
        return _newest_first([{"referral_id": r.id, "created_at": r.created_on} for r in chosen], after, limit)

    def providers(self, service_type: str | None, area: str | None, after: tuple | None, limit: int) -> list[dict]:
        found = [{"provider_id": p.id, "name": p.name} for p in aggregates(self.store, Provider)
                 if (not service_type or service_type in p.service_types) and (not area or p.area.lower() == area.lower())]
        ordered = sorted(found, key=lambda row: (row["name"], str(row["provider_id"])))
        return [row for row in ordered if after is None or (row["name"], str(row["provider_id"])) > after][:limit]

    def case_of_new_referrals(self, objs) -> list[Callable[[Tables], None]]:
        made = [{"referral_id": o.id, "case_id": o.case_id, "created_at": o.created_on} for o in objs
                if isinstance(o, Referral) and o.version == len(o.pending_events)]
        return [lambda tables, row=row: tables.setdefault("referral_cases", []).append(row) for row in made]

    def record_consent(self, curs: Tables, envelope: dict) -> None:
        payload, withdrawn = envelope["payload"], envelope["event_type"] == "ConsentWithdrawn"
        case_id = UUID(str(payload["case_id"]))
        row = curs.setdefault("consent", {}).get(case_id)
        if row is None or row["version"] < envelope["aggregate_version"]:
            curs["consent"][case_id] = {"services": not withdrawn and payload["services"],
                                        "share_with_providers": not withdrawn and payload["share_with_providers"],
                                        "version": envelope["aggregate_version"]}

    def record_case(self, curs: Tables, envelope: dict) -> None:
        record_case_state(curs, envelope)


class MemoryReferrals(InMemory, Referrals):
    def __init__(self, settings):
        super().__init__(settings)
        self.queries = MemoryReferralQueries(self)


def referrals() -> MemoryReferrals:
    return MemoryReferrals(memory_settings("referrals"))


class Sealer:
    """The cases service's `seal_texts`/`open_texts` as a `CaseTexts` calls them (shared/case_texts.py)."""

    def __init__(self):
        self.calls: list[tuple] = []

    def seal_texts(self, caller, case_id, texts, referred=False):
        self.calls.append(("seal", caller.username, case_id, referred))
        return [f"sealed:{text}" for text in texts]

    def open_texts(self, caller, pairs, referred=False):
        self.calls.append(("open", caller.username, referred))
        return [value.removeprefix("sealed:") for _, value in pairs]


def _newest_first(rows: list[dict], after: tuple | None, limit: int) -> list[dict]:
    """services/referrals/queries.py `_newest_first`: created_at, then the id, descending, after the key."""
    def key(row):
        return row["created_at"], str(row["referral_id"])
    if after is not None:
        bound = (datetime.fromisoformat(after[0]), after[1])
        rows = [row for row in rows if key(row) < bound]
    return sorted(rows, key=key, reverse=True)[:limit]


# --- approvals -------------------------------------------------------------------------------------

class MemoryApprovalQueries(ApprovalQueries):
    """services/approvals/queries.py over `tables["case_state"]`."""

    def request(self, case_id: UUID, requested_by: str, requester_role: str | None, organisation: str):
        row = self.store.tables.get("case_state", {}).get(case_id) or {
            "assigned_to": None, "closed": False, "erased": False}
        return request_of({**row, "requested_by": requested_by, "requester_role": requester_role,
                           "organisation": organisation})

    def organisation_of(self, case_id: UUID) -> str | None:
        return self.store.tables.get("case_state", {}).get(case_id, {}).get("organisation")

    def record_case(self, curs: Tables, envelope: dict) -> None:
        record_case_state(curs, envelope)


class MemoryApprovals(InMemory, Approvals):
    def __init__(self, settings):
        super().__init__(settings)
        self.queries = MemoryApprovalQueries(self)


def approvals() -> MemoryApprovals:
    return MemoryApprovals(memory_settings("approvals"))


# --- notifications ---------------------------------------------------------------------------------

class MemoryDirectory:
    """services/notifications/queries.py `Directory` over `tables`: `case_directory`, `people`, `overdue_watch`."""

    def __init__(self, store: "MemoryNotifications"):
        self.store = store

    def inactive_among(self, recipients) -> set[str]:
        people = self._tables().get("people", {})
        return {name for name in recipients if not people.get(name, {}).get("active", True)}

    def _tables(self, curs: Tables | None = None) -> Tables:
        tables = self.store.tables if curs is None else curs
        for name in ("case_directory", "people", "overdue_watch"):
            tables.setdefault(name, {})
        return tables

    def add_case(self, curs, case_id, case_number: str, assigned_to: str, registered_at, version: int) -> None:
        cases = self._tables(curs)["case_directory"]
        if case_id in cases:
            raise KeyError("case_directory primary key")  # a plain INSERT: a second effect fails loudly
        cases[case_id] = {"case_number": case_number, "assigned_to": assigned_to, "assigned_version": version,
                          "last_follow_up_at": None, "closed": False, "closed_version": 0}

    def add_person(self, curs, username: str, role: str, supervisor, provider_id, email, version: int = 1) -> None:
        self._tables(curs)["people"].setdefault(username, {"role": role, "supervisor": supervisor,
                                                           "provider_id": provider_id, "email": email,
                                                           "email_on": True})

    def set_email_on(self, curs, username: str, on: bool) -> None:
        person = self._tables(curs)["people"].get(username)
        if person is None:
            raise LookupError("person not in the directory yet")
        person["email_on"] = on

    def record_progress(self, curs, case_id, event_type: str, moment, version: int) -> None:
        case = self._tables(curs)["case_directory"].get(case_id)
        if case is None:
            raise LookupError("case not in the directory yet")
        if event_type == "FollowUpRecorded":
            case["last_follow_up_at"] = max(filter(None, [case["last_follow_up_at"], moment]))
        elif case["closed_version"] < version:
            case["closed"], case["closed_version"] = event_type == "CaseClosed", version

    def reassign(self, case_id, caseworker: str, version: int) -> None:
        with self.store.transaction() as tables:
            case = self._tables(tables)["case_directory"].get(case_id)
            if case is not None and case["assigned_version"] < version:
                case["assigned_to"], case["assigned_version"] = caseworker, version

    def watch(self, case_id, due) -> None:
        with self.store.transaction() as tables:
            due = datetime.fromisoformat(due) if isinstance(due, str) else due
            self._tables(tables)["overdue_watch"].setdefault((case_id, due), {"escalated": False})

    def mark_escalated(self, curs, escalation: Escalation) -> None:
        watch = self._tables(curs)["overdue_watch"].get((escalation.case_id, escalation.due))
        if watch is not None:
            watch["escalated"] = True

    def case(self, case_id) -> tuple[str, str]:
        case = self._tables()["case_directory"].get(case_id)
        if case is None:
            raise LookupError("case not in the directory yet")
        return case["case_number"], case["assigned_to"]

    def supervisors_of(self, username: str) -> list[str]:
        person = self._tables()["people"].get(username)
        if person is None:
            raise LookupError("requester not in the directory yet")
        return [person["supervisor"]] if person["supervisor"] else []

    def focal_points(self, provider_id) -> list[str]:
        return [name for name, person in self._tables()["people"].items()
                if person["provider_id"] is not None and str(person["provider_id"]) == str(provider_id)]

    def reachable_by_email(self, curs, recipients) -> list[dict]:
        return [{"username": name, "email": person["email"]} for name, person in self._tables(curs)["people"].items()
                if name in recipients and person["email"] and person["email_on"]]

    def overdue(self, before) -> list[Escalation]:
        tables = self._tables()
        found = []
        for (case_id, due), watch in sorted(tables["overdue_watch"].items(), key=lambda item: item[0][1]):
            case = tables["case_directory"].get(case_id)
            if (case is None or watch["escalated"] or due >= before or case["closed"]
                    or (case["last_follow_up_at"] is not None and case["last_follow_up_at"] >= due)):
                continue
            found.append(Escalation(case_id=case_id, due=due, case_number=case["case_number"],
                                    assigned_to=case["assigned_to"]))
        return found[:200]


class MemoryNotifications(InMemory, Notifications):
    now: datetime | None = None  # a test's clock; None: now

    def __init__(self, settings):
        super().__init__(settings)
        self.directory = MemoryDirectory(self)  # type: ignore[assignment]

    def clock(self) -> datetime:
        return self.now or datetime.now(UTC)

    def queue_webhook_deliveries(self, curs, event_id: UUID, kind: str, body: dict) -> None:
        """webhooks.queue_deliveries: one delivery per (event, live webhook that asked for this kind)."""
        for webhook in aggregates(self, Webhook):
            if not getattr(webhook, "deleted", False) and kind in webhook.events:
                curs.setdefault("deliveries", {}).setdefault((event_id, webhook.id), body)


def notifications_settings() -> NotificationsSettings:
    """The notifications service's settings for a store in memory: README's defaults (no SMTP server, no
    host allowed inside); never read from the environment."""
    return NotificationsSettings(
        **memory_settings("notifications").plumbing(), escalation_scan_seconds=60.0, webhook_scan_seconds=2.0,
        mail=MailSettings(host="", port=25, sender="casetrail@localhost", max_attempts=10, first_delay=10.0),
        webhooks=WebhookSettings(max_attempts=8, first_delay=5.0, timeout=5.0, allowed_hosts=AllowList(),
                                 resolve_timeout=3.0))


def notifications() -> MemoryNotifications:
    return MemoryNotifications(notifications_settings())


# --- the gateway's identity -------------------------------------------------------------------------

class MemoryIdentity(InMemory, Identity):
    # argon2's cheapest parameters: each hash in well under a millisecond (production's are its defaults).
    hasher = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)

    def listing(self, organisation):
        row = {"id": organisation.id, "name": organisation.name}
        return lambda tables: tables.setdefault("organisations", []).append(row)


def identity() -> MemoryIdentity:
    """The gateway's identity as on its first start: the first organisation made (the first admin is
    each test's own)."""
    store = MemoryIdentity(memory_settings("gateway"))
    store.ensure_first_organisation("First organisation")
    return store


class DatabaseOpened(AssertionError):
    """A use-case test in memory tried to connect to PostgreSQL (tests/unit/conftest.py `no_database`)."""


def no_database_environment() -> list[str]:
    """The database settings present in the environment (none, for a test that runs in memory)."""
    return sorted(name for name in os.environ if name.startswith("POSTGRES_") or name.endswith("_POSTGRES_SCHEMA"))


class Relay:
    """What the outbox relays and the consumers do between services in memory: each store's public
    events since the last `run`, in log order, handed to the handlers `routes` names for their type."""

    def __init__(self, sources: dict[str, tuple[ServiceStore, Callable]], routes: dict[str, list[Callable]]):
        self.sources, self.routes = sources, routes
        self.positions = dict.fromkeys(sources, 0)
        self.delivered: list[dict] = []

    def run(self) -> None:
        moved = True
        while moved:  # a handler may publish in its turn
            moved = False
            for name, (store, publication) in self.sources.items():
                news = published(store, publication, after=self.positions[name])
                self.positions[name] = store.max_notification_id()
                for envelope in news:
                    moved = True
                    self.delivered.append(envelope)
                    for handler in self.routes.get(envelope["event_type"], []):
                        handler(envelope)
