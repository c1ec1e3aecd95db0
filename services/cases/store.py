"""Where the cases service keeps its cases: its event store (shared/store.py: eventsourcing on
PostgreSQL), with each case's identifying fields sealed under a key of its own
(services/cases/protection.py), every stream of a case linked into the case's audit chain, and the
service's clock. Plumbing only: what a case accepts is domain.py, who may do what policy.py, the
use cases application.py and the reads queries.py."""
import random
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any, ClassVar, cast
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError

from services.cases import policy
from services.cases.domain import Case, CaseAccess, CaseActivity, Consent
from services.cases.policy import Standing
from services.cases.protection import CaseKeys, SealingMapper
from services.cases.queries import CaseQueries, Indexed, case_gauges, indexed
from services.cases.settings import CasesSettings
from shared.caller import Caller
from shared.errors import Conflict, NotFound
from shared.store import ServiceStore


class CaseStore(ServiceStore):
    """The case files, their consent, who read them and what other services did to them."""

    name = "cases"  # eventsourcing's application name: the events table is cases_events
    snapshotting_intervals: ClassVar = {Case: 100}
    keys_class: ClassVar[type[CaseKeys]] = CaseKeys  # where case keys are kept (tests/memory.py: in memory)

    settings: CasesSettings

    def __init__(self, settings: CasesSettings):
        super().__init__(settings)
        self.keys = self.keys_class(self, settings.master_keys, settings.case_key_cache_seconds)
        cast(SealingMapper, self.mapper).keys = self.keys
        self.audit_keys = settings.audit_keys  # signs exports and checkpoints

    def construct_mapper(self):
        return self.factory.mapper(transcoder=self.construct_transcoder(), mapper_class=SealingMapper)

    def chain_of(self, recorded) -> UUID | None:
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

    def domain_gauges(self) -> list:
        return case_gauges(self)

    # --- getting ------------------------------------------------------------------------------

    def case(self, case_id: UUID) -> Case:
        return self.get_one(case_id, Case, "No such case.")

    def case_for(self, caller: Caller, case_id: UUID, action: str) -> Case:
        """The case, once the access policy lets the caller do `action` on it."""
        return policy.decide(caller, action, lambda: self.case(case_id))

    def standing_for(self, caller: Caller, case_id: UUID, action: str) -> Standing:
        """The access policy's decision on a read of the case's record. A case whose stored events were
        damaged must still be open to inspection: then the index says who holds it."""
        return policy.decide(caller, action, lambda: self.standing(case_id))

    def standing(self, case_id: UUID) -> Standing:
        try:
            return self.case(case_id)  # the case itself, never a lagging index: reassignment is at once
        except NotFound:
            raise
        except Exception:  # noqa: BLE001  a damaged event: the history and verification still answer
            found = self.holders([case_id]).get(case_id)
            if found is None:
                raise NotFound("No such case.") from None
            return found

    def consent_of(self, case_id: UUID) -> Consent | None:
        try:
            return self.repository.get(Consent.id_for(case_id))
        except AggregateNotFoundError:
            return None

    def version_at(self, aggregate_id: UUID, moment: datetime) -> int | None:
        """The aggregate's version at `moment` (None: it did not exist yet)."""
        version = None
        events: Iterable[Any] = self.events.get(aggregate_id)
        for stored in events:
            if stored.timestamp > moment:
                break
            version = stored.originator_version
        return version

    # --- what the use cases consult of the read models (the in-memory twin answers these: tests/memory.py) --

    def holders(self, case_ids: list[UUID]) -> dict[UUID, Indexed]:
        """Who holds each of these cases, as the case index says."""
        return indexed(self, case_ids)

    def referred_to(self, provider_id: str | None, case_ids: list[UUID]) -> set[UUID]:
        """Which of these cases were referred to the provider."""
        return CaseQueries(self).referred_to(provider_id, case_ids)

    def due_follow_ups(self, now: datetime, limit: int) -> list[UUID]:
        """Open cases whose current due time has passed and is not flagged yet, the earliest first."""
        return CaseQueries(self).due_follow_ups(now, limit)

    def known_case(self, case_id: UUID) -> UUID:
        """Another service's news of a case this store never held is not recorded (NotFound: set aside)."""
        if not self.recorder.select_events(case_id, limit=1):
            raise NotFound("No such case.")
        return case_id

    # --- saving -------------------------------------------------------------------------------

    def record_view(self, caller: Caller, case_id: UUID, view: str) -> None:
        """Who read the case file, and when."""
        self.append(CaseAccess.id_for(case_id), CaseAccess.CaseViewed,
                    {"by": caller.recorded(), "case_id": case_id, "view": view})

    def append(self, stream: UUID, kind: type, fields: dict, *, along: Callable[[], list] = list,
               inbox: tuple | None = None, statements: Iterable = ()) -> bool:
        """Appends one event of `kind` to a stream that many write to (reads of a case, what other
        services did to it), saving `along()` in the same transaction. Writers that race for the next
        version are retried apart. With `inbox`, once only: False if that bus event was recorded before."""
        for attempt in range(30):
            if inbox and self.processed(*inbox):
                return False
            last = self.recorder.select_events(stream, desc=True, limit=1)
            appended = kind(originator_id=stream, originator_version=last[0].originator_version + 1 if last else 1,
                            timestamp=kind.create_timestamp(), **fields)  # type: ignore[attr-defined]
            try:
                self.save(*along(), appended, inbox=inbox, statements=statements)
                return True
            except IntegrityError:
                time.sleep(random.uniform(0, 0.005 * (attempt + 1)))  # apart, so the next try finds a free version
        raise Conflict("The case is being changed by many at once; try again.")

    def referral_status(self, referral_id, case_id: UUID, provider_id, service_type: str, status: str,
                        version: int) -> tuple:
        """The statement that brings the case's list of referrals up to date, to save with the event that
        records it; an older version of the referral never replaces a newer one."""
        return (self.sql(
            "INSERT INTO {schema}.case_referrals VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (referral_id)"
            " DO UPDATE SET status = EXCLUDED.status, version = EXCLUDED.version"
            " WHERE case_referrals.version < EXCLUDED.version"),
            (referral_id, case_id, provider_id, service_type, status, version))

    def next_case_number(self) -> str:
        with self.transaction() as curs:
            curs.execute(self.sql("SELECT nextval('{schema}.case_number_seq') AS n"))
            n = curs.fetchone()["n"]
        return f"{self.settings.case_number_prefix}-{self.clock().year}-{n:06d}"
