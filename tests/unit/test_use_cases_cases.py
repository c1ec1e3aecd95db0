"""The cases service's use cases (services/cases/application.py), in memory: no PostgreSQL, no RabbitMQ
(tests/memory.py). A case from registration to closure, with the approvals service's use cases deciding
what the supervisor decides; what an erased and a closed case accept; the follow-up rules."""
import os
from datetime import UTC, datetime, timedelta

import pytest

from services.approvals.domain import Approval
from services.approvals.schemas import DecisionSchema
from services.approvals.views import public_event as approval_event
from services.cases import schemas
from services.cases.application import CaseReactions, Cases, CaseTexts
from services.cases.domain import CaseActivity
from services.cases.protection import ERASED
from services.cases.queries import CaseQueries
from services.cases.service import COMMANDS  # the one table of case commands, as the entrypoints use it
from services.cases.views import public_event as case_event
from services.gateway.errors import PROBLEMS
from shared.caller import Caller
from shared.case_texts import CaseTexts as SealedTexts
from shared.errors import Forbidden, InvalidInput, InvalidTransition, NotFound
from shared.settings import Settings
from shared.validation import clean, load
from shared.vocabulary import Role, Stage
from tests import memory

pytestmark = pytest.mark.usefixtures("no_database")

CW = Caller(username="cw1", role=Role.CASEWORKER, supervisor="sup1", teammates=("cw2",))
CW2 = Caller(username="cw2", role=Role.CASEWORKER, supervisor="sup1", teammates=("cw1",))
SUP = Caller(username="sup1", role=Role.SUPERVISOR, team=("cw1", "cw2"))
OUTSIDER = Caller(username="cw9", role=Role.CASEWORKER, supervisor="sup9")
CONSENT = {"services": True, "share_with_providers": True, "mandatory_reporting_explained": True,
           "given_by": "survivor"}
PLAN = {"goals": [{"need": "medical", "action": "Clinic visit", "responsible": "cw1", "due_date": "2030-01-01"}]}


class Office:
    """The cases and approvals services in memory, with what the outbox relay and the consumers would
    carry between them: each service's public events, delivered to the other's handlers."""

    def __init__(self):
        self.cases, self.approvals = memory.cases(), memory.approvals()
        self.reactions = CaseReactions(self.cases)
        self.sealer = memory.Sealer()
        self.relayed = {"cases": 0, "approvals": 0}

    def relay(self) -> None:
        """Delivers what each store published since the last relay, in log order."""
        for envelope in self._news(self.cases, case_event, "cases"):
            if envelope["event_type"] in ("CasePlanSubmitted", "ClosureRequested"):
                self.approvals.receive_submission(envelope)
            if envelope["event_type"] in ("CaseRegistered", "CaseReassigned", "CaseClosed", "CaseReopened",
                                          "CaseErased"):
                self.approvals.case_changed(envelope)
        for envelope in self._news(self.approvals, approval_event, "approvals"):
            if envelope["event_type"] == "ApprovalRequested":
                self.reactions.approval_requested(envelope)
            else:
                self.reactions.apply_decision(envelope)

    def _news(self, store, publication, name: str) -> list[dict]:
        news = memory.published(store, publication, after=self.relayed[name])
        self.relayed[name] = store.max_notification_id()
        return news

    def command(self, name: str, caller: Caller, case_id, data=None, options=None):
        """What service.py's `_command` does: the command's schema, then its use case."""
        use_case, schema = COMMANDS[name]
        args = (clean(schema(), data),) if schema else ()
        result = use_case(self.cases, caller, case_id, *args, options or {})
        self.relay()
        return result

    def register(self, caller: Caller = CW, **data):
        case = self.cases.register_case(caller, clean(schemas.RegisterCaseSchema, {
            "survivor": {"name": "Amina Example", "phone": "+000 555 0100"}, "risk_level": "medium", **data}))
        self.relay()
        return case

    def decide(self, supervisor: Caller, case, decision: str = "approve", comment: str | None = None):
        [pending] = [a for a in memory.aggregates(self.approvals, Approval)
                     if a.case_id == case.id and a.status == "pending"]
        self.approvals.decide(supervisor, pending.id, load(DecisionSchema, {"decision": decision, "comment": comment}), None,
                              self._texts(supervisor))
        self.relay()
        return self.cases.case(case.id)

    def _texts(self, caller: Caller):
        return SealedTexts(self.sealer, 1.0, caller)

    def in_implementation(self, caller: Caller = CW):
        case = self.register(caller)
        self.command("record_consent", caller, case.id, CONSENT)
        self.command("assess", caller, case.id, {"needs": ["medical"], "safety_concerns": "Threats at home"})
        self.command("draft_plan", caller, case.id, PLAN)
        self.command("submit_plan", caller, case.id)
        return self.decide(SUP, case)

    def closed(self):
        case = self.in_implementation()
        self.command("request_closure", CW, case.id, {"reason": "needs_met", "notes": "All goals met"})
        return self.decide(SUP, case)




@pytest.fixture
def office() -> Office:
    return Office()


def test_a_case_goes_from_registration_through_approval_follow_ups_and_closure(office):
    case = office.register()
    assert case.stage == Stage.ENGAGEMENT and case.assigned_to == "cw1" and case.case_number.startswith("GBV-")
    with pytest.raises(InvalidTransition, match="consent"):  # no assessment before consent to services
        office.command("assess", CW, case.id, {"needs": ["medical"], "safety_concerns": "x"})
    office.command("record_consent", CW, case.id, CONSENT)
    assert office.command("assess", CW, case.id, {"needs": ["medical"], "safety_concerns": "Threats"}).stage \
        == Stage.CASE_PLAN
    office.command("draft_plan", CW, case.id, PLAN)
    submitted = office.command("submit_plan", CW, case.id)
    assert submitted.stage == Stage.CASE_PLAN  # waiting for the supervisor

    approved = office.decide(SUP, case)
    assert approved.stage == Stage.IMPLEMENTATION and approved.next_due is not None
    # The request and the decision are in the case's own activity, each once.
    assert [a["decided_by"] for a in _approvals(office, case)] == ["sup1"]
    assert len(office.cases.recorder.select_events(CaseActivity.id_for(case.id))) == 2

    followed = office.command("record_follow_up", CW, case.id, {
        "contacted": True, "contact_date": datetime.now(UTC).isoformat(), "safety_reassessed": True})
    assert followed.stage == Stage.FOLLOW_UP and followed.follow_ups == 1
    office.command("hold_conference", CW, case.id, {"held_on": "2026-01-02", "participants": ["cw1", "clinic"],
                                                     "decisions": "Keep going"})
    office.command("request_closure", CW, case.id, {"reason": "needs_met", "notes": "All goals met"})
    assert office.cases.case(case.id).stage == Stage.FOLLOW_UP  # closure waits for the supervisor
    closed = office.decide(SUP, case)
    assert closed.stage == Stage.CLOSED and closed.next_due is None
    # Every event of the case's streams is linked into its chain, in the order written.
    chain = office.cases.tables["audit_chain"][case.id]
    assert [link["sequence"] for link in chain] == list(range(1, len(chain) + 1))
    assert len(chain) == sum(len(office.cases.recorder.select_events(s)) for s in office.cases.streams_of(case.id))


def _approvals(office: Office, case) -> list[dict]:
    return CaseQueries(office.cases).activity_of(case.id)["approvals"]


def test_a_rejected_plan_keeps_the_case_in_planning_and_only_the_supervisor_decides(office):
    case = office.register()
    office.command("record_consent", CW, case.id, CONSENT)
    office.command("assess", CW, case.id, {"needs": ["medical"], "safety_concerns": "x"})
    office.command("draft_plan", CW, case.id, PLAN)
    office.command("submit_plan", CW, case.id)
    with pytest.raises(Forbidden):
        office.decide(CW, case)  # a caseworker never decides
    with pytest.raises(Forbidden):
        office.decide(Caller(username="sup9", role=Role.SUPERVISOR, team=("cw9",)), case)  # another team's
    assert office.decide(SUP, case, "reject", "Add a safety goal").stage == Stage.CASE_PLAN


def test_a_retried_command_with_its_idempotency_key_has_one_effect(office):
    case = office.in_implementation()
    follow_up = {"contacted": True, "contact_date": datetime.now(UTC).isoformat(), "safety_reassessed": True}
    first = office.command("record_follow_up", CW, case.id, follow_up, {"idempotency_key": "k1"})
    again = office.command("record_follow_up", CW, case.id, follow_up, {"idempotency_key": "k1"})
    assert again.version == first.version and office.cases.case(case.id).follow_ups == 1
    with pytest.raises(Exception, match="different request"):
        office.command("record_follow_up", CW, case.id, {**follow_up, "contacted": False}, {"idempotency_key": "k1"})


def test_an_erased_case_refuses_every_command_with_409(office):
    case = office.in_implementation()
    erased = office.command("erase", SUP, case.id, {"reason": "The survivor asked"})
    assert erased.survivor["name"] == ERASED  # the key is gone: every sealed field reads erased
    assert office.cases.case(case.id).survivor["phone"] == ERASED
    commands = {
        "record_consent": (CW, CONSENT), "withdraw_consent": (CW, None),
        "assess": (CW, {"needs": ["medical"], "safety_concerns": "x"}), "draft_plan": (CW, PLAN),
        "submit_plan": (CW, None),
        "record_follow_up": (CW, {"contacted": True, "contact_date": datetime.now(UTC).isoformat(),
                                  "safety_reassessed": True}),
        "hold_conference": (CW, {"held_on": "2026-01-02", "participants": ["a"], "decisions": "d"}),
        "request_closure": (CW, {"reason": "needs_met", "notes": "n"}), "reopen": (CW, {"reason": "r"}),
        "reassign": (SUP, {"caseworker": "cw2"}), "give_feedback": (CW2, {"answers": {"q": "a"}}),
        "erase": (SUP, {"reason": "again"}),
    }
    assert set(commands) == set(COMMANDS)  # every command there is
    version = office.cases.case(case.id).version
    for name, (caller, data) in commands.items():
        with pytest.raises(InvalidTransition, match="erased") as refused:
            office.command(name, caller, case.id, data)
        assert PROBLEMS[type(refused.value)][0] == 409, name
    assert office.cases.case(case.id).version == version  # nothing was recorded
    # Other services' text about the case is erased too: nothing can be sealed with its key any more.
    assert CaseTexts(office.cases).seal_texts(SUP, case.id, ["a referral note"]) == [ERASED]


def test_a_closed_case_accepts_only_reopen_feedback_erasure_and_consent_withdrawal(office):
    case = office.closed()
    refused = {
        "record_consent": CONSENT, "assess": {"needs": ["medical"], "safety_concerns": "x"}, "draft_plan": PLAN,
        "submit_plan": None,
        "record_follow_up": {"contacted": True, "contact_date": datetime.now(UTC).isoformat(),
                             "safety_reassessed": True},
        "hold_conference": {"held_on": "2026-01-02", "participants": ["a"], "decisions": "d"},
        "request_closure": {"reason": "needs_met", "notes": "n"},
    }
    for name, data in refused.items():
        with pytest.raises(InvalidTransition, match="closed"):
            office.command(name, CW, case.id, data)
    with pytest.raises(InvalidTransition, match="closed"):
        office.command("reassign", SUP, case.id, {"caseworker": "cw2"})
    office.command("withdraw_consent", CW, case.id)
    office.command("give_feedback", CW2, case.id, {"answers": {"How were you treated?": "Well"}})
    assert office.cases.case(case.id).stage == Stage.CLOSED
    assert office.command("reopen", CW, case.id, {"reason": "New incident"}).stage == Stage.FOLLOW_UP
    office.command("request_closure", CW, case.id, {"reason": "needs_met", "notes": "Done again"})
    office.decide(SUP, case)
    assert office.command("erase", SUP, case.id, {"reason": "Asked"}).erasure["erased_by"] == "sup1"


def test_feedback_is_collected_by_the_team_never_by_the_cases_own_caseworker(office):
    case = office.closed()
    with pytest.raises(Forbidden):
        office.command("give_feedback", CW, case.id, {"answers": {"q": "a"}})
    with pytest.raises(NotFound):  # out of scope: nothing says whether the case exists
        office.command("give_feedback", OUTSIDER, case.id, {"answers": {"q": "a"}})


def test_the_risk_level_may_be_raised_at_a_follow_up_never_lowered(office):
    case = office.in_implementation()  # registered at medium
    now = datetime.now(UTC).isoformat()
    with pytest.raises(InvalidInput, match="raised, not lowered") as lowered:
        office.command("record_follow_up", CW, case.id, {"contacted": True, "contact_date": now,
                                                          "safety_reassessed": True, "raise_risk_to": "low",
                                                          "raise_reason": "Calmer"})
    assert PROBLEMS[type(lowered.value)][0] == 422
    assert office.cases.case(case.id).follow_ups == 0 and office.cases.case(case.id).risk_level == "medium"
    raised = office.command("record_follow_up", CW, case.id, {"contacted": True, "contact_date": now,
                                                               "safety_reassessed": True, "raise_risk_to": "high",
                                                               "raise_reason": "New threats"})
    assert raised.risk_level == "high"


def test_a_follow_up_dated_before_registration_or_in_the_future_is_refused(office):
    case = office.in_implementation()
    registered = office.cases.case(case.id).registered_on
    for when, why in ((registered - timedelta(days=1), "before the case was registered"),
                      (datetime.now(UTC) + timedelta(hours=1), "future")):
        with pytest.raises(InvalidInput, match=why):
            office.command("record_follow_up", CW, case.id, {"contacted": True, "contact_date": when.isoformat(),
                                                              "safety_reassessed": True})
    assert office.cases.case(case.id).follow_ups == 0


def test_who_may_act_on_a_case(office):
    case = office.register()
    with pytest.raises(NotFound):
        office.command("record_consent", OUTSIDER, case.id, CONSENT)
    with pytest.raises(Forbidden):
        office.command("erase", CW, case.id, {"reason": "r"})  # only a supervisor erases
    with pytest.raises(Forbidden):
        office.cases.register_case(Caller(username="p1", role=Role.PROVIDER, provider_id="x"), {})
    reassigned = office.command("reassign", SUP, case.id, {"caseworker": "cw2"})
    assert reassigned.assigned_to == "cw2"
    with pytest.raises(NotFound):  # no longer the caseworker's case
        office.command("record_consent", CW, case.id, CONSENT)


def test_the_overdue_scan_flags_a_missed_follow_up_once(office):
    case = office.in_implementation()
    due = datetime.fromisoformat(office.cases.case(case.id).next_due)
    office.cases.clock = lambda: due + timedelta(minutes=1)  # the store's clock: tests travel in time
    reactions = CaseReactions(office.cases)
    assert reactions.flag_overdue_follow_ups() == 1
    assert reactions.flag_overdue_follow_ups() == 0  # once per missed due time
    assert office.cases.case(case.id).overdue_flagged == [due.isoformat()]


def test_the_overdue_scan_saves_its_flags_together_and_one_by_one_when_a_case_changed_meanwhile(office):
    first, second, third = (office.in_implementation() for _ in range(3))
    due = max(datetime.fromisoformat(office.cases.case(case.id).next_due) for case in (first, second, third))
    office.cases.clock = lambda: due + timedelta(minutes=1)
    load, loaded = office.cases.repository.get, []

    def a_follow_up_lands_on_the_second_once_loaded(case_id, *args, **kwargs):
        stale = load(case_id, *args, **kwargs)
        if case_id == second.id and not loaded:
            loaded.append(case_id)
            office.command("record_follow_up", CW, second.id, {"contacted": True, "safety_reassessed": True,
                                                                "contact_date": due.isoformat()})
        return stale
    office.cases.repository.get = a_follow_up_lands_on_the_second_once_loaded
    assert CaseReactions(office.cases).flag_overdue_follow_ups() == 2  # the batch failed whole, then one by one
    assert loaded == [second.id]
    assert office.cases.case(first.id).overdue_flagged and office.cases.case(third.id).overdue_flagged
    assert office.cases.case(second.id).overdue_flagged == []  # followed up: its next due time has not passed
    assert office.cases.case(second.id).follow_ups == 1


def test_a_bus_event_is_recorded_in_the_case_once_however_often_it_arrives(office):
    case = office.register()
    office.command("record_consent", CW, case.id, CONSENT)
    office.command("assess", CW, case.id, {"needs": ["medical"], "safety_concerns": "x"})
    office.command("draft_plan", CW, case.id, PLAN)
    office.command("submit_plan", CW, case.id)
    [requested] = [e for e in memory.published(office.approvals, approval_event)
                   if e["event_type"] == "ApprovalRequested"]
    assert office.reactions.approval_requested(requested) is False  # the relay delivered it already
    assert len(_approvals(office, case)) == 1


def test_these_tests_open_no_database_and_would_fail_if_one_were_opened():
    """The guard (tests/unit/conftest.py `no_database`) is on: the same use cases built over PostgreSQL
    fail at once, with no database settings in the environment; the memory twin needs none."""
    assert memory.no_database_environment() == []
    with pytest.raises(memory.DatabaseOpened):
        Cases(Settings.for_service("cases", {**os.environ, "CASES_CIPHER_KEY": "k"}))
    assert memory.cases().register_case(CW, clean(schemas.RegisterCaseSchema, {
        "survivor": {"name": "A"}, "risk_level": "low"})).version == 1
