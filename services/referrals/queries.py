"""The referrals service's read models and their SQL: the directory (providers and referrals as
lists to search, kept by a projection), each case's referrals (written with the referral), the
case and its consent as the cases service announced them. No survivor data in any of them."""
from typing import ClassVar
from uuid import UUID

from services.referrals.domain import Provider, Referral
from services.referrals.policy import CaseState, Listing
from shared import case_state
from shared.metrics import gauge
from shared.outbox import Projection
from shared.store import ServiceStore
from shared.vocabulary import ReferralStatus


class Directory(Projection):
    """Providers and referrals, as lists to search (no survivor data in either)."""

    name = "directory"
    STATUSES: ClassVar[dict[type, ReferralStatus]] = {
        Referral.ReferralAccepted: ReferralStatus.ACCEPTED, Referral.ReferralDeclined: ReferralStatus.DECLINED,
        Referral.ReferralCompleted: ReferralStatus.COMPLETED, Referral.ReferralWithdrawn: ReferralStatus.WITHDRAWN}

    def apply(self, store, curs, event) -> None:
        if isinstance(event, Provider.ProviderRegistered):
            curs.execute(store.sql("INSERT INTO {schema}.providers VALUES (%s, %s, %s, %s)"),
                         (event.originator_id, event.name, event.service_types, event.area))
        elif isinstance(event, Referral.ReferralMade):
            curs.execute(store.sql("INSERT INTO {schema}.referral_index VALUES (%s, %s, %s, %s, %s, %s)"),
                         (event.originator_id, event.case_id, event.provider_id, event.by["username"],
                          ReferralStatus.REQUESTED, event.timestamp))
        elif type(event) in self.STATUSES:
            curs.execute(store.sql("UPDATE {schema}.referral_index SET status = %s WHERE referral_id = %s"),
                         (self.STATUSES[type(event)], event.originator_id))


# Each case's referrals (`referral_cases`) are written in the transaction that makes the referral (not
# by a follower of the log): what a consent withdrawal sweeps, and what a case's referral list reads.
# The tables: services/referrals/migrations (case_state: shared/migrations/versions/case_state).


class ReferralQueries:
    """The reads of the referrals service's store."""

    def __init__(self, store: ServiceStore):
        self.store = store

    def case_state(self, case_id: UUID) -> CaseState:
        row = self._one("SELECT s.assigned_to, coalesce(s.closed, false) AS closed,"
                        " coalesce(s.erased, false) AS erased,"
                        " coalesce(c.services AND c.share_with_providers, false) AS consent"
                        " FROM (SELECT %s::uuid AS case_id) AS k LEFT JOIN {schema}.case_state AS s USING (case_id)"
                        " LEFT JOIN {schema}.consent AS c USING (case_id)", (case_id,))
        assert row is not None  # always one row: the case id itself, joined to what is known of it
        return CaseState(**row)

    def referral_ids_of_case(self, case_id: UUID) -> list[UUID]:
        """Every referral of the case (what a consent withdrawal sweeps)."""
        return [row["referral_id"] for row in self._all(
            "SELECT referral_id FROM {schema}.referral_cases WHERE case_id = %s", (case_id,))]

    def page_of_case(self, case_id: UUID, after: tuple | None, limit: int) -> list[dict]:
        """Up to `limit` of the case's referrals, newest first, after the key `after` (see referral_key)."""
        where, params = ["case_id = %s"], [case_id]
        return self._all(_newest_first("SELECT referral_id, created_at FROM {schema}.referral_cases", where, params,
                                       after), (*params, limit))

    def listed(self, listing: Listing, after: tuple | None, limit: int) -> list[dict]:
        """Up to `limit` referrals of a caller's list (see policy.listing), newest first, after the key `after`."""
        params: list
        if listing.holders is None:
            query = "SELECT r.referral_id, r.created_at FROM {schema}.referral_index AS r"
            where, params = ["r.provider_id = %s"], [listing.provider_id]
        else:
            query = ("SELECT r.referral_id, r.created_at FROM {schema}.referral_index AS r JOIN {schema}.case_state"
                     " AS s USING (case_id)")
            where, params = ["s.assigned_to = ANY(%s)"], [list(listing.holders)]
        return self._all(_newest_first(query, where, params, after, "r."), (*params, limit))

    def providers(self, service_type: str | None, area: str | None, after: tuple | None, limit: int) -> list[dict]:
        """Up to `limit` providers in name order (then id: a unique order), after the key `after`."""
        where, params = ["true"], []
        if service_type:
            where.append("%s = ANY(service_types)")
            params.append(service_type)
        if area:
            where.append("lower(area) = lower(%s)")
            params.append(area)
        if after is not None:
            where.append("(name, provider_id) > (%s, %s::uuid)")
            params += list(after)
        return self._all("SELECT provider_id, name FROM {schema}.providers WHERE " + " AND ".join(where) +
                         " ORDER BY name, provider_id LIMIT %s", (*params, limit))

    # --- written with what the use cases save (in the transaction they give: `curs`) ---------

    def case_of_new_referrals(self, objs) -> list[tuple]:
        return case_of_new_referrals(self.store, objs)

    def record_consent(self, curs, envelope: dict) -> None:
        record_consent(self.store, curs, envelope)

    def record_case(self, curs, envelope: dict) -> None:
        case_state.record(self.store, curs, envelope)

    def gauges(self) -> list:
        rows = self._all("SELECT status, count(*) AS n FROM {schema}.referral_index GROUP BY status", ())
        counts = {row["status"]: row["n"] for row in rows}
        return [gauge("casetrail_referrals", "Referrals by status", ["status"],
                      [(str(status), counts.get(status, 0)) for status in ReferralStatus])]

    def _one(self, query: str, params) -> dict | None:
        with self.store.reading() as curs:
            curs.execute(self.store.sql(query), params)
            return curs.fetchone()

    def _all(self, query: str, params) -> list[dict]:
        with self.store.reading() as curs:
            curs.execute(self.store.sql(query), params)
            return curs.fetchall()


def _newest_first(query: str, where: list[str], params: list, after: tuple | None, alias: str = "") -> str:
    """`query` with its conditions, newest first (created_at, then the id), after the key `after`."""
    if after is not None:
        where = [*where, f"({alias}created_at, {alias}referral_id) < (%s::timestamptz, %s::uuid)"]
        params += list(after)
    return (query + " WHERE " + " AND ".join(where) +
            f" ORDER BY {alias}created_at DESC, {alias}referral_id DESC LIMIT %s")


def case_of_new_referrals(store: ServiceStore, objs) -> list[tuple]:
    """The `referral_cases` rows of the referrals `objs` create, as statements for their save."""
    made = [(o.id, o.case_id, o.created_on) for o in objs
            if isinstance(o, Referral) and o.version == len(o.pending_events)]
    return [(store.sql("INSERT INTO {schema}.referral_cases VALUES (%s, %s, %s)"), row) for row in made]


def record_consent(store: ServiceStore, curs, envelope: dict) -> None:
    """A ConsentRecorded or ConsentWithdrawn: a later version of the consent stream replaces an earlier one."""
    payload, withdrawn = envelope["payload"], envelope["event_type"] == "ConsentWithdrawn"
    curs.execute(store.sql(
        "INSERT INTO {schema}.consent VALUES (%s, %s, %s, %s) ON CONFLICT (case_id) DO UPDATE"
        " SET services = EXCLUDED.services, share_with_providers = EXCLUDED.share_with_providers,"
        " version = EXCLUDED.version WHERE consent.version < EXCLUDED.version"),
        (payload["case_id"], not withdrawn and payload["services"],
         not withdrawn and payload["share_with_providers"], envelope["aggregate_version"]))
