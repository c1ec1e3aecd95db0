"""Use cases of the referrals service: the provider directory, referrals, and the survivor's
consent as the cases service announces it. Each one gets what it acts on, has the access policy
(policy.py) and the aggregate (domain.py) decide, and saves."""
from typing import cast
from uuid import UUID

from eventsourcing.persistence import IntegrityError

from services.referrals import policy as access
from services.referrals.domain import Provider, Referral
from services.referrals.queries import ReferralQueries
from shared.caller import Caller
from shared.case_texts import CaseTexts
from shared.errors import Conflict, InvalidInput, NotFound
from shared.settings import Settings
from shared.store import ServiceStore
from shared.vocabulary import ReferralStatus, Role


class Referrals(ServiceStore):
    name = "referrals"

    def __init__(self, settings: Settings):
        super().__init__(settings)
        self.queries = ReferralQueries(self)

    def save(self, *objs, **kwargs):
        """A new referral's case is recorded with it, in the same transaction."""
        statements = [*kwargs.pop("statements", ()), *self.queries.case_of_new_referrals(objs)]
        return super().save(*objs, statements=statements, **kwargs)

    def domain_gauges(self) -> list:
        return self.queries.gauges()

    # --- the directory ----------------------------------------------------------------

    def register_provider(self, caller: Caller, data: dict, idempotency_key: str | None = None) -> Provider:
        access.check_directory_entry(caller)
        return self.create_once(Provider, caller, idempotency_key, data, lambda provider_id, request_hash:
                                Provider(id=provider_id, request_hash=request_hash,  # type: ignore[call-arg]
                                         by=caller.recorded(), **data))

    # --- referrals --------------------------------------------------------------------

    def make_referral(self, caller: Caller, case_id: UUID, case_number: str, data: dict,
                      idempotency_key: str | None, texts: CaseTexts, hint: bool = False) -> Referral:
        """`hint`: the cases service found the case in the caller's scope (see policy.in_scope).
        `texts` seals the notes."""
        def referral(referral_id: UUID, request_hash: str) -> Referral:
            access.check(caller, "make", self.queries.case_state(case_id), hint=hint)
            provider = self._provider(data["provider_id"])
            if data["service_type"] not in provider.service_types:
                offered = f"{provider.name} does not offer {data['service_type']} services."
                raise InvalidInput({"service_type": [offered]})
            notes = texts.seal(case_id, data.get("notes"))
            return Referral(id=referral_id, case_id=case_id, case_number=case_number,  # type: ignore[call-arg]
                            request_hash=request_hash, by=caller.recorded(), **{**data, "notes": notes})
        made = self.create_once(Referral, caller, idempotency_key, [str(case_id), data], referral)
        return self._withdrawn_since(case_id, made.id, caller) or made

    def act_as_provider(self, caller: Caller, referral_id: UUID, action: str, data: dict,
                        texts: CaseTexts, idempotency_key: str | None = None) -> Referral:
        def act() -> Referral:
            referral = self._referral(referral_id)
            access.check(caller, action, self.queries.case_state(referral.case_id), provider_id=referral.provider_id)
            by = caller.recorded()
            {"accept": lambda: referral.accept(by=by),
             "decline": lambda: referral.decline(sealed(texts, referral.case_id, data["reason"]), by=by),
             "complete": lambda: referral.complete(sealed(texts, referral.case_id, data["outcome"]), by=by)}[action]()
            return referral
        return self.command_once(caller, idempotency_key, [action, str(referral_id), data], act, _CHANGED,
                                 reached=lambda first: self._replay_reached(caller, action, first))

    def withdraw(self, caller: Caller, referral_id: UUID, reason: str, texts: CaseTexts,
                 hint: bool = False, idempotency_key: str | None = None) -> Referral:
        def withdraw() -> Referral:
            referral = self._referral(referral_id)
            access.check(caller, "withdraw", self.queries.case_state(referral.case_id), hint=hint)
            referral.withdraw(sealed(texts, referral.case_id, reason), by=caller.recorded())
            return referral
        return self.command_once(caller, idempotency_key, ["withdraw", str(referral_id), reason], withdraw, _CHANGED,
                                 reached=lambda first: self._replay_reached(caller, "withdraw", first))

    def _replay_reached(self, caller: Caller, action: str, first: Referral) -> None:
        access.check_replay(caller, action, self.queries.case_state(first.case_id), first.provider_id)

    # --- reads, each decided by the access policy --------------------------------------

    def referrals_of_case(self, caller: Caller, case_id: UUID, after: tuple | None = None, limit: int = 200,
                          hint: bool = False) -> list[Referral]:
        """Up to `limit` of the case's referrals, newest first, after the key `after` (queries.referral_key)."""
        access.check(caller, "read_case", self.queries.case_state(case_id), hint=hint)
        return [self.repository.get(row["referral_id"]) for row in self.queries.page_of_case(case_id, after, limit)]

    def referrals_for(self, caller: Caller, after: tuple | None = None, limit: int = 200) -> list[Referral]:
        """Up to `limit` referrals of the caller's list, newest first, after the key `after`."""
        return [self.repository.get(row["referral_id"])
                for row in self.queries.listed(access.listing(caller), after, limit)]

    def providers(self, service_type: str | None, area: str | None, after: tuple | None = None,
                  limit: int = 200) -> list[Provider]:
        """Up to `limit` providers of the pathway in name order, after the key `after`."""
        return [self.repository.get(row["provider_id"])
                for row in self.queries.providers(service_type, area, after, limit)]

    def case_of_referral(self, caller: Caller, referral_id: UUID) -> UUID:
        access.check_finding_case(caller)
        return self._referral(referral_id).case_id

    def notes_visible(self, caller: Caller, referrals: list[Referral], hint: bool = False) -> list[bool]:
        states = {case_id: self.queries.case_state(case_id) for case_id in {r.case_id for r in referrals}}
        return [access.may_read_notes(caller, states[r.case_id], r.provider_id, r.status, hint=hint)
                for r in referrals]

    # --- the case, its consent, as announced by the cases service ------------------------

    def consent_changed(self, envelope: dict) -> bool:
        new = self.process_once("consent", envelope["event_id"],
                                lambda curs: self.queries.record_consent(curs, envelope))
        # Also on redelivery: a sweep may have failed.
        self.withdraw_refused(envelope["payload"]["case_id"], recorded_actor(envelope))
        return new

    def case_changed(self, envelope: dict) -> bool:
        new = self.process_once("cases", envelope["event_id"], lambda curs: self.queries.record_case(curs, envelope))
        if envelope["event_type"] == "CaseErased":
            self.withdraw_refused(envelope["aggregate_id"], recorded_actor(envelope))
        return new

    def withdraw_refused(self, case_id: UUID, by: dict) -> None:
        """Withdraws every open referral of a case whose consent is gone or that was erased.
        Runs after the consent or erasure is committed, and reads the referrals that committed
        tables, so a referral made meanwhile is seen either here or by its maker (make_referral)."""
        cause = self.queries.case_state(case_id).withdrawal_cause
        if cause is None:
            return
        for referral_id in self.queries.referral_ids_of_case(case_id):
            self._withdraw_open(referral_id, cause, by)

    def _withdraw_open(self, referral_id: UUID, cause: str, by: dict) -> Referral | None:
        for _ in range(10):
            referral = self._referral(referral_id)
            if not ReferralStatus(referral.status).is_open:
                return None
            referral.withdraw(cause, by=by)  # a code, not free text: nothing to seal
            try:
                self.save(referral)
                return referral
            except IntegrityError:
                continue  # the provider acted meanwhile: look again
        raise Conflict("The referral keeps changing; try again.")

    def _withdrawn_since(self, case_id: UUID, referral_id: UUID, caller: Caller) -> Referral | None:
        """A withdrawal or erasure committed since the maker's check: the sweep may have missed this
        referral (it was not committed yet when the sweep read), so the maker withdraws it."""
        cause = self.queries.case_state(case_id).withdrawal_cause
        if cause is None:
            return None
        system = Caller(username="system", role=Role.SYSTEM, correlation_id=caller.correlation_id)
        return self._withdraw_open(referral_id, cause, system.recorded())

    def _provider(self, provider_id: UUID) -> Provider:
        try:
            return self.get_one(provider_id, Provider, "No such provider.")
        except NotFound:
            raise InvalidInput({"provider_id": ["No provider has that id."]}) from None

    def _referral(self, referral_id: UUID) -> Referral:
        return self.get_one(referral_id, Referral, "No such referral.")


_CHANGED = "The referral changed meanwhile; reload it and try again."


def sealed(texts: CaseTexts, case_id: UUID, text: str) -> str:
    """A text sealed with the case's key (a text in, a text out)."""
    return cast(str, texts.seal(case_id, text))


def recorded_actor(envelope: dict) -> dict:
    """Who did what a bus event announces, as an event records it (`by`)."""
    return {**envelope["actor"], "correlation_id": envelope["correlation_id"]}
