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

LIMIT = 200  # the longest list answered


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

    def referral_ids_of_case(self, case_id: UUID, newest_first: bool = False) -> list[UUID]:
        """Every referral of the case; `newest_first`: the newest LIMIT of them, in that order."""
        query = "SELECT referral_id FROM {schema}.referral_cases WHERE case_id = %s"
        if newest_first:
            query += f" ORDER BY created_at DESC LIMIT {LIMIT}"
        return [row["referral_id"] for row in self._all(query, (case_id,))]

    def listed(self, listing: Listing) -> list[Referral]:
        """The newest LIMIT referrals of a caller's list (see policy.listing)."""
        if listing.holders is None:
            query = "SELECT referral_id FROM {schema}.referral_index WHERE provider_id = %s"
            params: tuple = (listing.provider_id,)
        else:
            query = ("SELECT r.referral_id FROM {schema}.referral_index AS r JOIN {schema}.case_state"
                     " AS s USING (case_id) WHERE s.assigned_to = ANY(%s)")
            params = (list(listing.holders),)
        rows = self._all(query + f" ORDER BY created_at DESC LIMIT {LIMIT}", params)
        return [self.store.repository.get(row["referral_id"]) for row in rows]

    def providers(self, service_type: str | None, area: str | None) -> list[Provider]:
        where, params = ["true"], []
        if service_type:
            where.append("%s = ANY(service_types)")
            params.append(service_type)
        if area:
            where.append("lower(area) = lower(%s)")
            params.append(area)
        rows = self._all("SELECT provider_id FROM {schema}.providers WHERE " + " AND ".join(where) +
                         f" ORDER BY name LIMIT {LIMIT}", params)
        return [self.store.repository.get(row["provider_id"]) for row in rows]

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
        with self.store.datastore.transaction() as curs:
            curs.execute(self.store.sql(query), params)
            return curs.fetchone()

    def _all(self, query: str, params) -> list[dict]:
        with self.store.datastore.transaction() as curs:
            curs.execute(self.store.sql(query), params)
            return curs.fetchall()


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
