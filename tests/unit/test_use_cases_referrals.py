"""The referrals service's use cases (services/referrals/application.py), in memory, fed by the cases
service's use cases in memory (their public events relayed as the bus would): who makes, accepts,
declines, completes and withdraws a referral, gated by the survivor's consent and the case's state."""
import pytest

from services.cases import schemas as case_schemas
from services.cases.application import CaseReactions
from services.cases.views import public_event as case_event
from services.referrals import schemas
from services.referrals.views import public_event as referral_event
from shared.caller import Caller
from shared.case_state import CASE_EVENTS
from shared.case_texts import CaseTexts
from shared.envelope import REFERRAL_EVENTS
from shared.errors import Conflict, Forbidden, InvalidInput, InvalidTransition, NotFound
from shared.validation import clean, load
from shared.vocabulary import ReferralStatus, Role
from tests import memory

pytestmark = pytest.mark.usefixtures("no_database")

ADMIN = Caller(username="admin", role=Role.ADMIN)
CW = Caller(username="cw1", role=Role.CASEWORKER, supervisor="sup1")
SUP = Caller(username="sup1", role=Role.SUPERVISOR, team=("cw1",))
OUTSIDER = Caller(username="cw9", role=Role.CASEWORKER, supervisor="sup9")
CONSENT = {"services": True, "share_with_providers": True, "mandatory_reporting_explained": True,
           "given_by": "survivor"}


class Pathway:
    """The cases and referrals services in memory, the bus between them a `memory.Relay`."""

    def __init__(self):
        self.cases, self.referrals = memory.cases(), memory.referrals()
        self.sealer = memory.Sealer()
        reactions = CaseReactions(self.cases)
        self.relay = memory.Relay(
            {"cases": (self.cases, case_event), "referrals": (self.referrals, referral_event)},
            {**{kind: [self.referrals.case_changed] for kind in CASE_EVENTS},
             "ConsentRecorded": [self.referrals.consent_changed], "ConsentWithdrawn": [self.referrals.consent_changed],
             **{kind: [reactions.referral_changed] for kind in REFERRAL_EVENTS}})
        self.clinic = self.referrals.register_provider(ADMIN, clean(schemas.ProviderSchema, {
            "name": "Clinic", "service_types": ["medical"], "area": "North", "contact": "clinic@example.org"}))
        self.shelter = self.referrals.register_provider(ADMIN, clean(schemas.ProviderSchema, {
            "name": "Shelter", "service_types": ["shelter"], "area": "North", "contact": "s@example.org"}))
        self.doctor = Caller(username="doc1", role=Role.PROVIDER, provider_id=str(self.clinic.id))
        self.warden = Caller(username="warden1", role=Role.PROVIDER, provider_id=str(self.shelter.id))

    def texts(self, caller: Caller) -> CaseTexts:
        return CaseTexts(self.sealer, 1.0, caller, referred=caller.role == Role.PROVIDER)

    def case(self, consent: bool = True):
        case = self.cases.register_case(CW, clean(case_schemas.RegisterCaseSchema, {
            "survivor": {"name": "A"}, "risk_level": "medium"}))
        if consent:
            self.cases.record_consent(CW, case.id, clean(case_schemas.ConsentSchema, CONSENT), {})
        self.relay.run()
        return case

    def refer(self, case, caller: Caller = CW, key: str | None = None, **data):
        referral = self.referrals.make_referral(
            caller, case.id, case.case_number, load(schemas.ReferralSchema, {
                "provider_id": str(self.clinic.id), "service_type": "medical", "notes": "Needs a check-up", **data}),
            key, self.texts(caller))
        self.relay.run()
        return referral

    def act(self, caller: Caller, referral, action: str, **data):
        done = self.referrals.act_as_provider(caller, referral.id, action, data, self.texts(caller))
        self.relay.run()
        return done

    def withdraw(self, caller: Caller, referral, reason: str = "No longer needed"):
        done = self.referrals.withdraw(caller, referral.id, reason, self.texts(caller))
        self.relay.run()
        return done


@pytest.fixture
def pathway() -> Pathway:
    return Pathway()


def test_a_referral_is_made_only_with_consent_to_share_and_its_notes_are_sealed(pathway):
    case = pathway.case(consent=False)
    with pytest.raises(InvalidTransition, match="consent"):
        pathway.refer(case)
    pathway.cases.record_consent(CW, case.id, clean(case_schemas.ConsentSchema, CONSENT), {})
    pathway.relay.run()
    referral = pathway.refer(case)
    assert referral.status == ReferralStatus.REQUESTED and referral.made_by == "cw1"
    assert referral.notes == "sealed:Needs a check-up"  # only the cases service's sealed form is kept here
    assert ("seal", "cw1", str(case.id), False) in pathway.sealer.calls
    # The cases service learnt of it: the referral is in the case's activity and its list.
    assert pathway.cases.referred_to(str(pathway.clinic.id), [case.id]) == {case.id}
    assert [r.id for r in pathway.referrals.referrals_of_case(CW, case.id)] == [referral.id]


def test_who_may_make_a_referral_and_to_whom(pathway):
    case = pathway.case()
    with pytest.raises(NotFound):
        pathway.refer(case, OUTSIDER)  # not in scope: nothing says the case exists
    with pytest.raises(Forbidden):
        pathway.refer(case, pathway.doctor)
    with pytest.raises(InvalidInput, match="does not offer"):
        pathway.refer(case, service_type="shelter")
    with pytest.raises(Forbidden):
        pathway.referrals.register_provider(CW, {"name": "X", "service_types": ["medical"], "area": "a",
                                                 "contact": "c"})
    assert pathway.refer(case, SUP).made_by == "sup1"  # the caseworker's supervisor too


def test_a_retried_referral_with_its_idempotency_key_is_made_once(pathway):
    case = pathway.case()
    first = pathway.refer(case, key="k1")
    assert pathway.refer(case, key="k1").id == first.id
    assert len(pathway.referrals.referrals_of_case(CW, case.id)) == 1
    with pytest.raises(Conflict):
        pathway.refer(case, key="k1", notes="Another request")


def test_only_the_provider_referred_to_accepts_declines_and_completes(pathway):
    case = pathway.case()
    referral = pathway.refer(case)
    for stranger in (pathway.warden, CW):
        with pytest.raises(NotFound):  # never tells another provider, or the case's side, it exists
            pathway.act(stranger, referral, "accept")
    with pytest.raises(InvalidTransition, match="only an accepted"):
        pathway.act(pathway.doctor, referral, "complete", outcome="Seen")
    assert pathway.act(pathway.doctor, referral, "accept").status == ReferralStatus.ACCEPTED
    with pytest.raises(InvalidTransition, match="only a requested"):
        pathway.act(pathway.doctor, referral, "decline", reason="Full")
    done = pathway.act(pathway.doctor, referral, "complete", outcome="Seen and treated")
    assert done.status == ReferralStatus.COMPLETED and done.outcome == "sealed:Seen and treated"
    with pytest.raises(InvalidTransition):
        pathway.withdraw(CW, referral)  # a completed referral stays completed
    [row] = pathway.cases.tables["case_referrals"].values()
    assert row["status"] == "completed"  # the case's list followed every step, in order


def test_a_declined_referral_records_its_reason_and_is_final(pathway):
    case = pathway.case()
    referral = pathway.refer(case)
    declined = pathway.act(pathway.doctor, referral, "decline", reason="No capacity")
    assert declined.status == ReferralStatus.DECLINED and declined.reason == "sealed:No capacity"
    with pytest.raises(InvalidTransition):
        pathway.act(pathway.doctor, referral, "accept")


def test_the_case_side_withdraws_an_open_referral_and_the_provider_can_no_longer_act(pathway):
    case = pathway.case()
    referral = pathway.refer(case)
    with pytest.raises(NotFound):
        pathway.withdraw(OUTSIDER, referral)
    with pytest.raises(NotFound):
        pathway.withdraw(pathway.doctor, referral)
    assert pathway.withdraw(CW, referral).status == ReferralStatus.WITHDRAWN
    with pytest.raises(InvalidTransition):
        pathway.act(pathway.doctor, referral, "accept")


def test_consent_withdrawn_withdraws_every_open_referral_and_stops_new_ones(pathway):
    case = pathway.case()
    requested, accepted = pathway.refer(case), pathway.refer(case)
    pathway.act(pathway.doctor, accepted, "accept")
    pathway.cases.withdraw_consent(CW, case.id, {})
    pathway.relay.run()
    for referral in (requested, accepted):
        withdrawn = pathway.referrals.repository.get(referral.id)
        assert withdrawn.status == ReferralStatus.WITHDRAWN and withdrawn.reason == "consent_withdrawn"
    with pytest.raises(InvalidTransition, match="consent"):
        pathway.refer(case)
    with pytest.raises(InvalidTransition, match="withdrew consent"):
        pathway.act(pathway.doctor, accepted, "complete", outcome="x")


def test_an_erased_or_closed_case_takes_no_new_referral(pathway):
    erased = pathway.case()
    open_referral = pathway.refer(erased)
    pathway.cases.erase(SUP, erased.id, {"reason": "Asked"}, {})
    pathway.relay.run()
    assert pathway.referrals.repository.get(open_referral.id).reason == "erased"
    with pytest.raises(InvalidTransition, match="erased"):
        pathway.refer(erased)
    # A closed case: as the cases service announces it (the approvals service's decision closes it).
    closed = pathway.case()
    pathway.referrals.case_changed(memory.read_envelope(memory.make_envelope(
        source="cases", event_type="CaseClosed", aggregate_id=closed.id, aggregate_version=99,
        occurred_at=closed.created_on, by=CW.recorded(), payload={"reason": "needs_met"})))
    with pytest.raises(InvalidTransition, match="closed"):
        pathway.refer(closed)


def test_a_bus_event_changes_the_referrals_store_once(pathway):
    case = pathway.case()
    [consented] = [e for e in pathway.relay.delivered if e["event_type"] == "ConsentRecorded"]
    assert pathway.referrals.consent_changed(consented) is False  # delivered already: no second effect
    assert pathway.referrals.queries.case_state(case.id).consent
