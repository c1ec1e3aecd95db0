"""The notifications service's use cases (services/notifications/application.py), in memory, told by the
other services' use cases in memory (the gateway's identity, cases, approvals, referrals, their public
events relayed as the bus would): who is told what, exactly once; escalation; reading; webhooks."""
from datetime import UTC, datetime, timedelta

import pytest

from services.approvals.schemas import DecisionSchema
from services.approvals.views import public_event as approval_event
from services.cases import schemas as case_schemas
from services.cases.application import DECISIONS, CaseReactions
from services.cases.views import public_event as case_event
from services.gateway.application import public_event as identity_event
from services.gateway.schemas import CreateUserSchema
from services.notifications.domain import CASE_PROGRESS, NOTIFIED, Notification
from services.notifications.schemas import WebhookSchema
from services.referrals import schemas as referral_schemas
from services.referrals.views import public_event as referral_event
from shared.caller import Caller
from shared.case_state import CASE_EVENTS
from shared.case_texts import CaseTexts
from shared.envelope import REFERRAL_EVENTS
from shared.errors import Forbidden, NotFound
from shared.validation import clean, load
from shared.vocabulary import Role
from tests import memory

pytestmark = pytest.mark.usefixtures("no_database")

ADMIN = Caller(username="admin", role=Role.ADMIN)
CW = Caller(username="cw1", role=Role.CASEWORKER, supervisor="sup1", teammates=("cw2",))
SUP = Caller(username="sup1", role=Role.SUPERVISOR, team=("cw1", "cw2"))
SURVIVOR = "Amina Example"
CONSENT = {"services": True, "share_with_providers": True, "mandatory_reporting_explained": True,
           "given_by": "survivor"}
PLAN = {"goals": [{"need": "medical", "action": "Clinic visit", "responsible": "cw1", "due_date": "2030-01-01"}]}


class Installation:
    """Every service's use cases in memory, the bus between them a `memory.Relay` routed as the services'
    handlers are (each service.py's @on_event)."""

    def __init__(self):
        self.identity, self.cases = memory.identity(), memory.cases()
        self.approvals, self.referrals = memory.approvals(), memory.referrals()
        self.notifications = memory.notifications()
        self.sealer = memory.Sealer()
        reactions, told = CaseReactions(self.cases), self.notifications
        routes: dict[str, list] = {
            "UserRegistered": [told.user_registered], "UserPreferencesChanged": [told.preferences_changed],
            "CaseRegistered": [told.case_registered],
            "CasePlanSubmitted": [self.approvals.receive_submission],
            "ClosureRequested": [self.approvals.receive_submission],
            "ConsentRecorded": [self.referrals.consent_changed], "ConsentWithdrawn": [self.referrals.consent_changed],
            "ApprovalRequested": [reactions.approval_requested],
            **{kind: [reactions.apply_decision] for kind in DECISIONS},
            **{kind: [reactions.referral_changed] for kind in REFERRAL_EVENTS},
        }
        for kind in CASE_EVENTS:
            routes.setdefault(kind, []).extend([self.approvals.case_changed, self.referrals.case_changed])
        for kind in NOTIFIED:
            routes.setdefault(kind, []).append(told.send_notifications)
        for kind in CASE_PROGRESS:
            routes.setdefault(kind, []).append(told.case_progressed)
        self.relay = memory.Relay({"gateway": (self.identity, identity_event), "cases": (self.cases, case_event),
                                   "approvals": (self.approvals, approval_event),
                                   "referrals": (self.referrals, referral_event)}, routes)
        self.identity.ensure_admin("admin", "admin-password")
        self.clinic = self.referrals.register_provider(ADMIN, clean(referral_schemas.ProviderSchema, {
            "name": "Clinic", "service_types": ["medical"], "area": "North", "contact": "c@example.org"}))
        for username, role, extra in (("sup1", "supervisor", {}), ("cw1", "caseworker", {"supervisor": "sup1"}),
                                      ("cw2", "caseworker", {"supervisor": "sup1"}),
                                      ("doc1", "provider", {"provider_id": str(self.clinic.id)})):
            self.identity.create_user(ADMIN, clean(CreateUserSchema, {
                "username": username, "password": "a-long-password", "role": role, "display_name": username,
                **extra}), provider_exists=lambda provider_id: provider_id == str(self.clinic.id))
        self.doctor = Caller(username="doc1", role=Role.PROVIDER, provider_id=str(self.clinic.id))
        self.relay.run()

    def told(self) -> list[tuple[str, str]]:
        """Every in-app notification sent: (recipient, kind), in the order sent."""
        return [(n.recipient, n.kind) for n in memory.aggregates(self.notifications, Notification)]

    def news_since(self, count: int) -> list[tuple[str, str]]:
        return self.told()[count:]

    def texts(self, caller: Caller) -> CaseTexts:
        return CaseTexts(self.sealer, 1.0, caller, referred=caller.role == Role.PROVIDER)

    def case_in_implementation(self):
        case = self.cases.register_case(CW, clean(case_schemas.RegisterCaseSchema, {
            "survivor": {"name": SURVIVOR}, "risk_level": "high"}))
        self.cases.record_consent(CW, case.id, clean(case_schemas.ConsentSchema, CONSENT), {})
        self.cases.assess(CW, case.id, {"needs": ["medical"], "safety_concerns": "x", "notes": None,
                                        "risk_level": None}, {})
        self.cases.draft_plan(CW, case.id, clean(case_schemas.PlanSchema, PLAN), {})
        self.cases.submit_plan(CW, case.id, {})
        self.relay.run()
        [pending] = [a for a in memory.aggregates(self.approvals, memory.Approval) if a.case_id == case.id]
        self.approvals.decide(SUP, pending.id, load(DecisionSchema, {"decision": "approve"}), None, self.texts(SUP))
        self.relay.run()
        return case


@pytest.fixture
def installation() -> Installation:
    return Installation()


def test_who_is_told_what(installation):
    before = len(installation.told())
    case = installation.case_in_implementation()
    assert installation.news_since(before) == [("sup1", "approval_requested"), ("cw1", "approval_decided")]

    before = len(installation.told())
    referral = installation.referrals.make_referral(
        CW, case.id, case.case_number, load(referral_schemas.ReferralSchema, {
            "provider_id": str(installation.clinic.id), "service_type": "medical"}), None, installation.texts(CW))
    installation.relay.run()
    installation.referrals.act_as_provider(installation.doctor, referral.id, "accept", {},
                                           installation.texts(installation.doctor))
    installation.relay.run()
    installation.referrals.withdraw(CW, referral.id, "Not needed", installation.texts(CW))
    installation.relay.run()
    assert installation.news_since(before) == [
        ("doc1", "referral_received"),  # the provider's focal points
        ("cw1", "referral_updated"),  # accepted: the caseworker
        ("cw1", "referral_updated"), ("doc1", "referral_updated"),  # withdrawn: both, so the provider stops
    ]

    before = len(installation.told())
    installation.cases.reassign(SUP, case.id, {"caseworker": "cw2"}, {})
    installation.relay.run()
    assert sorted(installation.news_since(before)) == [("cw1", "case_reassigned"), ("cw2", "case_reassigned")]


def test_each_event_is_told_once_however_often_it_arrives_and_never_carries_survivor_data(installation):
    installation.case_in_implementation()
    told = installation.told()
    for envelope in installation.relay.delivered:
        if envelope["event_type"] in NOTIFIED:
            assert installation.notifications.send_notifications(envelope) is False
    assert installation.told() == told
    messages = [n.message for n in memory.aggregates(installation.notifications, Notification)]
    assert messages and all(SURVIVOR not in m and "Amina" not in m for m in messages)
    assert all(m.startswith("GBV-") for m in messages)  # each names the case by its number


def test_an_overdue_follow_up_tells_the_caseworker_then_escalates_to_the_supervisor_once(installation):
    case = installation.case_in_implementation()
    due = datetime.fromisoformat(installation.cases.case(case.id).next_due)
    installation.cases.clock = lambda: due + timedelta(minutes=1)
    CaseReactions(installation.cases).flag_overdue_follow_ups()
    before = len(installation.told())
    installation.relay.run()
    assert installation.news_since(before) == [("cw1", "follow_up_overdue")]

    installation.notifications.now = due + timedelta(hours=23)
    assert installation.notifications.escalate_overdue() == 0  # not 24 hours yet
    installation.notifications.now = due + timedelta(hours=25)
    assert installation.notifications.escalate_overdue() == 1
    assert installation.news_since(before)[1:] == [("sup1", "follow_up_overdue")]
    assert installation.notifications.escalate_overdue() == 0  # once


def test_a_follow_up_recorded_after_the_due_time_stops_the_escalation(installation):
    """Told as the cases service tells it: a follow-up flagged overdue two days ago, then recorded a day ago
    on one case and not on the other. Only the other is escalated."""
    now = datetime.now(UTC)
    done, missed = installation.case_in_implementation(), installation.case_in_implementation()

    def announce(case, version: int, event_type: str, at: datetime, payload: dict) -> None:
        envelope = memory.read_envelope(memory.make_envelope(
            source="cases", event_type=event_type, aggregate_id=case.id, aggregate_version=version, occurred_at=at,
            by=CW.recorded(), payload=payload))
        if event_type in CASE_PROGRESS:
            installation.notifications.case_progressed(envelope)
        if event_type in NOTIFIED:
            installation.notifications.send_notifications(envelope)

    due = now - timedelta(days=2)
    for case in (done, missed):
        announce(case, 100, "FollowUpOverdue", due + timedelta(minutes=1), {"due": due.isoformat()})
    announce(done, 101, "FollowUpRecorded", now - timedelta(days=1), {"contacted": True,
                                                                        "next_due": now.isoformat()})
    before = len(installation.told())
    assert installation.notifications.escalate_overdue() == 1
    [escalation] = [n for n in memory.aggregates(installation.notifications, Notification)][before:]
    assert (escalation.recipient, escalation.case_id) == ("sup1", missed.id)


def test_only_the_recipient_marks_a_notification_read(installation):
    installation.case_in_implementation()
    [mine] = [n for n in memory.aggregates(installation.notifications, Notification) if n.recipient == "sup1"]
    with pytest.raises(NotFound):
        installation.notifications.mark_read(CW, mine.id)
    assert installation.notifications.mark_read(SUP, mine.id).read is True


def test_webhooks_are_an_admins_and_get_one_delivery_per_event_they_asked_for(installation):
    hook = {"url": "https://8.8.8.8/casetrail", "events": ["approval_requested"], "secret": "a-secret-of-16+chars"}
    with pytest.raises(Forbidden):
        installation.notifications.register_webhook(SUP, clean(WebhookSchema, hook))
    webhook = installation.notifications.register_webhook(ADMIN, clean(WebhookSchema, hook), "key-1")
    assert installation.notifications.register_webhook(ADMIN, clean(WebhookSchema, hook), "key-1").id == webhook.id
    installation.case_in_implementation()  # one approval requested, one decided
    deliveries = installation.notifications.tables["deliveries"]
    assert [webhook_id for _, webhook_id in deliveries] == [webhook.id]
    installation.notifications.delete_webhook(ADMIN, webhook.id)
    with pytest.raises(NotFound):
        installation.notifications.delete_webhook(ADMIN, webhook.id)
    installation.case_in_implementation()
    assert len(installation.notifications.tables["deliveries"]) == 1  # a deleted webhook is sent nothing new
