"""Use cases of the referrals service: the provider directory, referrals, and the survivor's
consent as the cases service announces it."""
from uuid import UUID

from eventsourcing.persistence import IntegrityError

from services.referrals.domain import Provider, Referral
from shared.caller import recorded_by
from shared.envelope import REFERRAL_EVENTS
from shared.errors import Conflict, Forbidden, InvalidInput, InvalidTransition, NotFound
from shared.metrics import gauge
from shared.outbox import Projection
from shared.store import ServiceStore

CASE_ROLES = ("caseworker", "supervisor")


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
    tables = Directory.TABLES

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

    # --- consent, as announced by the cases service -----------------------------------

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
        return self.process_once("consent", envelope["event_id"], apply)

    def consent_allows_referral(self, case_id: UUID) -> bool:
        with self.datastore.transaction() as curs:
            curs.execute(self.sql("SELECT services AND share_with_providers AS allowed FROM {schema}.consent"
                                  " WHERE case_id = %s"), (case_id,))
            row = curs.fetchone()
        return bool(row and row["allowed"])

    # --- referrals --------------------------------------------------------------------

    def make_referral(self, caller: dict, case_id: UUID, case_number: str, data: dict,
                      idempotency_key: str | None, texts) -> Referral:
        """The gateway has checked that the case is in the caller's scope. `texts` seals the notes."""
        if caller["role"] not in CASE_ROLES:
            raise Forbidden("Only caseworkers and supervisors make referrals.")
        def referral(referral_id, request_hash) -> Referral:
            if not self.consent_allows_referral(case_id):
                raise InvalidTransition("The survivor's current consent does not allow sharing with service "
                                        "providers: record consent to services and sharing first.")
            provider = self._provider(data["provider_id"])
            if data["service_type"] not in provider.service_types:
                raise InvalidInput({"service_type": [f"{provider.name} does not offer {data['service_type']} services."]})
            return Referral(id=referral_id, case_id=case_id, case_number=case_number, request_hash=request_hash,
                            by=recorded_by(caller), **{**data, "notes": texts.seal(case_id, data.get("notes"))})
        return self.create_once(Referral, caller, idempotency_key, [str(case_id), data], referral)

    def referrals_of_case(self, case_id: UUID) -> list[Referral]:
        return self._referrals("case_id = %s", case_id)

    def referrals_for(self, caller: dict) -> list[Referral]:
        if caller["role"] == "provider":
            return self._referrals("provider_id = %s", caller.get("provider_id"))
        if caller["role"] in CASE_ROLES:
            return self._referrals("made_by = ANY(%s)", [caller["username"], *caller.get("team", [])])
        raise Forbidden("Only providers, caseworkers and supervisors see referrals.")

    def act_as_provider(self, caller: dict, referral_id: UUID, action: str, data: dict, texts) -> Referral:
        referral = self._referral(referral_id)
        if caller["role"] != "provider" or str(caller.get("provider_id")) != str(referral.provider_id):
            raise NotFound("No such referral.")  # never tell one provider about another's referrals
        by = recorded_by(caller)
        {"accept": lambda: referral.accept(by=by),
         "decline": lambda: referral.decline(texts.seal(referral.case_id, data["reason"]), by=by),
         "complete": lambda: referral.complete(texts.seal(referral.case_id, data["outcome"]), by=by)}[action]()
        self._save(referral)
        return referral

    def case_of_referral(self, caller: dict, referral_id: UUID) -> UUID:
        if caller["role"] not in CASE_ROLES:
            raise NotFound("No such referral.")
        return self._referral(referral_id).case_id

    def withdraw(self, caller: dict, referral_id: UUID, reason: str, texts) -> Referral:
        """The gateway has checked that the referral's case is in the caller's scope."""
        referral = self._referral(referral_id)
        referral.withdraw(texts.seal(referral.case_id, reason), by=recorded_by(caller))
        self._save(referral)
        return referral

    def _save(self, referral: Referral) -> None:
        try:
            self.save(referral)
        except IntegrityError:
            raise Conflict("The referral changed meanwhile; reload it and try again.") from None

    def _referrals(self, condition: str, value) -> list[Referral]:
        with self.datastore.transaction() as curs:
            curs.execute(self.sql(f"SELECT referral_id FROM {{schema}}.referral_index WHERE {condition}"
                                  " ORDER BY created_at DESC LIMIT 200"), (value,))
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


def referral_view(referral: Referral) -> dict:
    """What both sides see: the case number, never the survivor's identifying data. The free text
    is still sealed here; the entrypoint opens it."""
    return {"id": str(referral.id), "case_id": str(referral.case_id), "case_number": referral.case_number,
            "provider_id": str(referral.provider_id), "service_type": referral.service_type,
            "urgency": referral.urgency, "notes": referral.notes, "status": referral.status,
            "reason": referral.reason, "outcome": referral.outcome, "made_by": referral.made_by,
            "created_at": referral.created_on.isoformat(), "updated_at": referral.modified_on.isoformat()}
