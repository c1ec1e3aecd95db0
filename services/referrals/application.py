"""Use cases of the referrals service: the provider directory, referrals, and the survivor's
consent as the cases service announces it."""
from uuid import UUID

from eventsourcing.persistence import IntegrityError

from services.referrals import policy
from services.referrals.domain import Provider, Referral
from services.referrals.policy import OPEN, CaseState
from shared import case_state
from shared.caller import recorded_by
from shared.envelope import REFERRAL_EVENTS
from shared.errors import Conflict, Forbidden, InvalidInput, NotFound
from shared.metrics import gauge
from shared.outbox import Projection
from shared.store import ServiceStore

CASE_TABLES = case_state.TABLES + (
    # Each case's referrals, written in the transaction that makes the referral (not by a follower
    # of the log): what a consent withdrawal sweeps, and what a case's referral list reads.
    "CREATE TABLE IF NOT EXISTS {schema}.referral_cases (referral_id uuid PRIMARY KEY, case_id uuid NOT NULL,"
    " created_at timestamptz NOT NULL)",
    "CREATE INDEX IF NOT EXISTS referral_cases_case ON {schema}.referral_cases (case_id, created_at)",
)
SYSTEM = {"username": "system", "role": "system"}


class Directory(Projection):
    """Providers and referrals, as lists to search (no survivor data in either)."""

    name = "directory"
    TABLES = (
        "CREATE TABLE IF NOT EXISTS {schema}.providers (provider_id uuid PRIMARY KEY, name text NOT NULL,"
        " service_types text[] NOT NULL, area text NOT NULL)",
        "CREATE TABLE IF NOT EXISTS {schema}.referral_index (referral_id uuid PRIMARY KEY, case_id uuid NOT NULL,"
        " provider_id uuid NOT NULL, made_by text NOT NULL, status text NOT NULL, created_at timestamptz NOT NULL)",
        "CREATE INDEX IF NOT EXISTS referral_index_case ON {schema}.referral_index (case_id, created_at)",
        "CREATE INDEX IF NOT EXISTS referral_index_provider ON {schema}.referral_index (provider_id, created_at)",
        # Consent as the cases service announced it; `version` orders the consent stream's events.
        "CREATE TABLE IF NOT EXISTS {schema}.consent (case_id uuid PRIMARY KEY, services boolean NOT NULL,"
        " share_with_providers boolean NOT NULL, version integer NOT NULL)",
    )

    def apply(self, store, curs, event) -> None:
        kind = type(event).__name__
        if kind == "ProviderRegistered":
            curs.execute(store.sql("INSERT INTO {schema}.providers VALUES (%s, %s, %s, %s)"),
                         (event.originator_id, event.name, event.service_types, event.area))
        elif kind == "ReferralMade":
            curs.execute(store.sql("INSERT INTO {schema}.referral_index VALUES (%s, %s, %s, %s, 'requested', %s)"),
                         (event.originator_id, event.case_id, event.provider_id, event.by["username"],
                          event.timestamp))
        elif kind in REFERRAL_EVENTS:
            curs.execute(store.sql("UPDATE {schema}.referral_index SET status = %s WHERE referral_id = %s"),
                         (kind.removeprefix("Referral").lower(), event.originator_id))


def public_event(event) -> tuple[str, dict] | None:
    """Referral states by ids and service type; reasons, outcomes and notes stay here."""
    kind = type(event).__name__
    if kind not in REFERRAL_EVENTS:
        return None
    about = ({"case_id": str(event.case_id), "provider_id": str(event.provider_id),
              "service_type": event.service_type} if kind == "ReferralMade" else event.about)
    return kind, {"referral_id": str(event.originator_id), **about,
                  "status": "requested" if kind == "ReferralMade" else kind.removeprefix("Referral").lower()}


class ReferralsStore(ServiceStore):
    name = "referrals"
    tables = Directory.TABLES + CASE_TABLES

    def save(self, *objs, **kwargs):
        """A new referral's case is recorded with it, in the same transaction."""
        made = [(o.id, o.case_id, o.created_on) for o in objs
                if isinstance(o, Referral) and o.version == len(o.pending_events)]
        statements = [(self.sql("INSERT INTO {schema}.referral_cases VALUES (%s, %s, %s)"), row) for row in made]
        return super().save(*objs, statements=[*kwargs.pop("statements", ()), *statements], **kwargs)

    def domain_gauges(self) -> list:
        with self.datastore.transaction() as curs:
            curs.execute(self.sql("SELECT status, count(*) AS n FROM {schema}.referral_index GROUP BY status"))
            counts = {row["status"]: row["n"] for row in curs.fetchall()}
        statuses = ("requested", "accepted", "declined", "completed", "withdrawn")
        return [gauge("casetrail_referrals", "Referrals by status", ["status"],
                      [(status, counts.get(status, 0)) for status in statuses])]

    # --- the directory ----------------------------------------------------------------

    def register_provider(self, caller: dict, data: dict, idempotency_key: str | None = None) -> Provider:
        if caller["role"] != "admin":
            raise Forbidden("Only an admin manages the provider directory.")
        return self.create_once(Provider, caller, idempotency_key, data, lambda provider_id, request_hash: Provider(
            id=provider_id, request_hash=request_hash, by=recorded_by(caller), **data))

    def providers(self, service_type: str | None, area: str | None) -> list[dict]:
        where, params = ["true"], []
        if service_type:
            where.append("%s = ANY(service_types)")
            params.append(service_type)
        if area:
            where.append("lower(area) = lower(%s)")
            params.append(area)
        with self.datastore.transaction() as curs:
            curs.execute(self.sql("SELECT provider_id FROM {schema}.providers WHERE " + " AND ".join(where) +
                                  " ORDER BY name LIMIT 200"), params)
            return [provider_view(self.repository.get(row["provider_id"])) for row in curs.fetchall()]

    # --- the case, its consent, as announced by the cases service ------------------------

    def consent_changed(self, envelope: dict) -> bool:
        payload = envelope["payload"]
        withdrawn = envelope["event_type"] == "ConsentWithdrawn"

        def apply(curs):
            curs.execute(self.sql(
                "INSERT INTO {schema}.consent VALUES (%s, %s, %s, %s) ON CONFLICT (case_id) DO UPDATE"
                " SET services = EXCLUDED.services, share_with_providers = EXCLUDED.share_with_providers,"
                " version = EXCLUDED.version WHERE consent.version < EXCLUDED.version"),
                (payload["case_id"], not withdrawn and payload["services"],
                 not withdrawn and payload["share_with_providers"], envelope["aggregate_version"]))
        new = self.process_once("consent", envelope["event_id"], apply)
        self.withdraw_refused(payload["case_id"], _actor(envelope))  # also on redelivery: a sweep may have failed
        return new

    def case_changed(self, envelope: dict) -> bool:
        new = self.process_once("cases", envelope["event_id"], lambda curs: case_state.record(self, curs, envelope))
        if envelope["event_type"] == "CaseErased":
            self.withdraw_refused(envelope["aggregate_id"], _actor(envelope))
        return new

    def case_state(self, case_id: UUID) -> CaseState:
        with self.datastore.transaction() as curs:
            curs.execute(self.sql(
                "SELECT s.assigned_to, coalesce(s.closed, false) AS closed, coalesce(s.erased, false) AS erased,"
                " coalesce(c.services AND c.share_with_providers, false) AS consent"
                " FROM (SELECT %s::uuid AS case_id) AS k LEFT JOIN {schema}.case_state AS s USING (case_id)"
                " LEFT JOIN {schema}.consent AS c USING (case_id)"), (case_id,))
            return CaseState(**curs.fetchone())

    def withdraw_refused(self, case_id: UUID, by: dict) -> None:
        """Withdraws every open referral of a case whose consent is gone or that was erased.
        Runs after the consent or erasure is committed, and reads the referrals that committed
        tables, so a referral made meanwhile is seen either here or by its maker (make_referral)."""
        cause = self.case_state(case_id).withdrawal_cause
        if cause is None:
            return
        with self.datastore.transaction() as curs:
            curs.execute(self.sql("SELECT referral_id FROM {schema}.referral_cases WHERE case_id = %s"), (case_id,))
            referral_ids = [row["referral_id"] for row in curs.fetchall()]
        for referral_id in referral_ids:
            self._withdraw_open(referral_id, cause, by)

    def _withdraw_open(self, referral_id: UUID, cause: str, by: dict) -> Referral | None:
        for _ in range(10):
            referral = self._referral(referral_id)
            if referral.status not in OPEN:
                return None
            referral.withdraw(cause, by=by)  # a code, not free text: nothing to seal
            try:
                self.save(referral)
                return referral
            except IntegrityError:
                continue  # the provider acted meanwhile: look again
        raise Conflict("The referral keeps changing; try again.")

    # --- referrals --------------------------------------------------------------------

    def make_referral(self, caller: dict, case_id: UUID, case_number: str, data: dict,
                      idempotency_key: str | None, texts, hint: bool = False) -> Referral:
        """`hint`: the cases service found the case in the caller's scope (see policy.in_scope).
        `texts` seals the notes."""
        def referral(referral_id, request_hash) -> Referral:
            policy.check(caller, "make", self.case_state(case_id), hint=hint)
            provider = self._provider(data["provider_id"])
            if data["service_type"] not in provider.service_types:
                raise InvalidInput({"service_type": [f"{provider.name} does not offer {data['service_type']} services."]})
            return Referral(id=referral_id, case_id=case_id, case_number=case_number, request_hash=request_hash,
                            by=recorded_by(caller), **{**data, "notes": texts.seal(case_id, data.get("notes"))})
        made = self.create_once(Referral, caller, idempotency_key, [str(case_id), data], referral)
        # A withdrawal or erasure committed since the check above: the sweep may have missed this
        # referral (it was not committed yet when the sweep read), so the maker withdraws it.
        cause = self.case_state(case_id).withdrawal_cause
        withdrawn = cause and self._withdraw_open(made.id, cause, {**SYSTEM, "correlation_id": caller.get("correlation_id")})
        return withdrawn or made

    def referrals_of_case(self, caller: dict, case_id: UUID, hint: bool = False) -> list[Referral]:
        policy.check(caller, "read_case", self.case_state(case_id), hint=hint)
        with self.datastore.transaction() as curs:
            curs.execute(self.sql("SELECT referral_id FROM {schema}.referral_cases WHERE case_id = %s"
                                  " ORDER BY created_at DESC LIMIT 200"), (case_id,))
            return [self.repository.get(row["referral_id"]) for row in curs.fetchall()]

    def referrals_for(self, caller: dict) -> list[Referral]:
        if caller["role"] == "provider":
            return self._referrals("SELECT referral_id FROM {schema}.referral_index WHERE provider_id = %s",
                                   caller.get("provider_id"))
        if caller["role"] in policy.CASE_ROLES:
            return self._referrals("SELECT r.referral_id FROM {schema}.referral_index AS r JOIN {schema}.case_state"
                                   " AS s USING (case_id) WHERE s.assigned_to = ANY(%s)", policy.scope(caller))
        raise Forbidden("Only providers, caseworkers and supervisors see referrals.")

    def act_as_provider(self, caller: dict, referral_id: UUID, action: str, data: dict, texts) -> Referral:
        referral = self._referral(referral_id)
        policy.check(caller, action, self.case_state(referral.case_id), provider_id=referral.provider_id)
        by = recorded_by(caller)
        {"accept": lambda: referral.accept(by=by),
         "decline": lambda: referral.decline(texts.seal(referral.case_id, data["reason"]), by=by),
         "complete": lambda: referral.complete(texts.seal(referral.case_id, data["outcome"]), by=by)}[action]()
        self._save(referral)
        return referral

    def case_of_referral(self, caller: dict, referral_id: UUID) -> UUID:
        if caller["role"] not in policy.CASE_ROLES:
            raise NotFound("No such referral.")
        return self._referral(referral_id).case_id

    def withdraw(self, caller: dict, referral_id: UUID, reason: str, texts, hint: bool = False) -> Referral:
        referral = self._referral(referral_id)
        policy.check(caller, "withdraw", self.case_state(referral.case_id), hint=hint)
        referral.withdraw(texts.seal(referral.case_id, reason), by=recorded_by(caller))
        self._save(referral)
        return referral

    def notes_visible(self, caller: dict, referrals: list[Referral], hint: bool = False) -> list[bool]:
        states = {case_id: self.case_state(case_id) for case_id in {r.case_id for r in referrals}}
        return [policy.may_read_notes(caller, states[r.case_id], r.provider_id, r.status, hint=hint)
                for r in referrals]

    def _save(self, referral: Referral) -> None:
        try:
            self.save(referral)
        except IntegrityError:
            raise Conflict("The referral changed meanwhile; reload it and try again.") from None

    def _referrals(self, query: str, value) -> list[Referral]:
        with self.datastore.transaction() as curs:
            curs.execute(self.sql(query + " ORDER BY created_at DESC LIMIT 200"), (value,))
            return [self.repository.get(row["referral_id"]) for row in curs.fetchall()]

    def _provider(self, provider_id: UUID) -> Provider:
        try:
            return self.get_one(provider_id, Provider, "No such provider.")
        except NotFound:
            raise InvalidInput({"provider_id": ["No provider has that id."]}) from None

    def _referral(self, referral_id: UUID) -> Referral:
        return self.get_one(referral_id, Referral, "No such referral.")


def provider_view(provider: Provider) -> dict:
    return {"id": str(provider.id), "name": provider.name, "service_types": provider.service_types,
            "area": provider.area, "contact": provider.contact}


TEXTS = ("notes", "reason", "outcome")  # free text, kept sealed with the case's key


def _actor(envelope: dict) -> dict:
    return {**envelope["actor"], "correlation_id": envelope["correlation_id"]}


def referral_view(referral: Referral, notes_visible: bool = True) -> dict:
    """What both sides see: the case number, never the survivor's identifying data. The free text
    is still sealed here; the entrypoint opens it."""
    return {"id": str(referral.id), "case_id": str(referral.case_id), "case_number": referral.case_number,
            "provider_id": str(referral.provider_id), "service_type": referral.service_type,
            "urgency": referral.urgency, "notes": referral.notes if notes_visible else None, "status": referral.status,
            "reason": referral.reason, "outcome": referral.outcome, "made_by": referral.made_by,
            "created_at": referral.created_on.isoformat(), "updated_at": referral.modified_on.isoformat()}
