"""The approvals service's use cases (services/approvals/application.py), in memory, fed by the cases
service's use cases in memory: the organisation's policy, requests from submissions, supersession,
who decides, and what a decision does to the case."""
import pytest

from services.approvals import schemas
from services.approvals.domain import Approval, Kind
from services.approvals.views import public_event as approval_event
from services.cases import schemas as case_schemas
from services.cases.application import CaseReactions
from services.cases.views import public_event as case_event
from shared.caller import Caller
from shared.case_state import CASE_EVENTS
from shared.case_texts import CaseTexts
from shared.errors import Forbidden, InvalidInput, InvalidTransition
from shared.organisations import FIRST
from shared.validation import clean, load
from shared.vocabulary import ApprovalStatus, Role, Stage
from tests import memory

pytestmark = pytest.mark.usefixtures("no_database")

ADMIN = Caller(username="admin", role=Role.ADMIN)
CW = Caller(username="cw1", role=Role.CASEWORKER, supervisor="sup1")
SUP = Caller(username="sup1", role=Role.SUPERVISOR, team=("cw1",), supervisor="head1")
HEAD = Caller(username="head1", role=Role.SUPERVISOR, team=("sup1",))
OTHER_SUP = Caller(username="sup9", role=Role.SUPERVISOR, team=("cw9",))
CONSENT = {"services": True, "share_with_providers": True, "mandatory_reporting_explained": True,
           "given_by": "survivor"}
PLAN = {"goals": [{"need": "medical", "action": "Clinic visit", "responsible": "cw1", "due_date": "2030-01-01"}]}


class Desk:
    def __init__(self):
        self.cases, self.approvals = memory.cases(), memory.approvals()
        self.sealer = memory.Sealer()
        reactions = CaseReactions(self.cases)
        self.relay = memory.Relay(
            {"cases": (self.cases, case_event), "approvals": (self.approvals, approval_event)},
            {"CasePlanSubmitted": [self.approvals.receive_submission],
             "ClosureRequested": [self.approvals.receive_submission],
             **{kind: [self.approvals.case_changed] for kind in CASE_EVENTS},
             "ApprovalRequested": [reactions.approval_requested],
             **{kind: [reactions.apply_decision] for kind in ("CasePlanApproved", "CasePlanRejected",
                                                              "ClosureApproved", "ClosureRejected")}})

    def submitted_plan(self, caller: Caller = CW, risk_level: str = "medium"):
        case = self.cases.register_case(caller, clean(case_schemas.RegisterCaseSchema, {
            "survivor": {"name": "A"}, "risk_level": risk_level}))
        self.cases.record_consent(caller, case.id, clean(case_schemas.ConsentSchema, CONSENT), {})
        self.cases.assess(caller, case.id, {"needs": ["medical"], "safety_concerns": "x", "notes": None,
                                            "risk_level": None}, {})
        self.cases.draft_plan(caller, case.id, clean(case_schemas.PlanSchema, PLAN), {})
        self.cases.submit_plan(caller, case.id, {})
        self.relay.run()
        return case

    def requests(self, case) -> list[Approval]:
        return [a for a in memory.aggregates(self.approvals, Approval) if a.case_id == case.id]

    def decide(self, caller: Caller, approval: Approval, decision: str = "approve", comment: str | None = None,
               key: str | None = None) -> Approval:
        decided = self.approvals.decide(caller, approval.id, load(schemas.DecisionSchema, {
            "decision": decision, "comment": comment}), key, CaseTexts(self.sealer, 1.0, caller))
        self.relay.run()
        return decided


@pytest.fixture
def desk() -> Desk:
    return Desk()


def test_a_submission_becomes_a_request_for_the_requesters_supervisor_who_alone_decides(desk):
    case = desk.submitted_plan()
    [request] = desk.requests(case)
    assert request.status == ApprovalStatus.PENDING and request.kind == Kind.CASE_PLAN and request.requested_by == "cw1"
    for caller, refused in ((CW, Forbidden), (OTHER_SUP, Forbidden), (HEAD, Forbidden)):
        with pytest.raises(refused):
            desk.decide(caller, request)
    decided = desk.decide(SUP, request, comment="Good plan")
    assert decided.status == ApprovalStatus.APPROVED and decided.decided_by == "sup1"
    assert decided.comment == "sealed:Good plan"  # kept sealed with the case's key
    assert desk.cases.case(case.id).stage == Stage.IMPLEMENTATION  # the decision reached the case
    with pytest.raises(InvalidTransition, match="already approved"):
        desk.decide(SUP, request, "reject", "Changed my mind")


def test_a_supervisors_own_request_goes_to_their_own_supervisor(desk):
    case = desk.submitted_plan(SUP)
    [request] = desk.requests(case)
    with pytest.raises(Forbidden, match="your own request"):
        desk.decide(SUP, request)
    assert desk.decide(HEAD, request).decided_by == "head1"


def test_a_rejection_needs_a_comment_and_a_retried_decision_gets_the_first_answer(desk):
    case = desk.submitted_plan()
    [request] = desk.requests(case)
    with pytest.raises(InvalidInput, match="comment"):
        desk.decide(SUP, request, "reject")
    first = desk.decide(SUP, request, "reject", "Add a safety goal", key="k1")
    again = desk.decide(SUP, request, "reject", "Add a safety goal", key="k1")
    assert again.version == first.version and desk.cases.case(case.id).plan["status"] == "rejected"


def test_a_newer_submission_supersedes_the_pending_request(desk):
    """The cases service refuses a new submission while one waits; should a newer one be announced all
    the same (a revision from another instance), the approvals service's own rule keeps one request open."""
    case = desk.submitted_plan()
    [first] = desk.requests(case)
    [announced] = [e for e in desk.relay.delivered if e["event_type"] == "CasePlanSubmitted"]
    newer = memory.read_envelope(memory.make_envelope(
        source="cases", event_type="CasePlanSubmitted", aggregate_id=case.id,
        aggregate_version=announced["aggregate_version"] + 1, occurred_at=announced["occurred_at"],
        by=CW.recorded(), payload={**announced["payload"], "submission": announced["aggregate_version"] + 1}))
    assert desk.approvals.receive_submission(newer)
    statuses = {a.id: a.status for a in desk.requests(case)}
    assert statuses.pop(first.id) == ApprovalStatus.SUPERSEDED
    assert list(statuses.values()) == [ApprovalStatus.PENDING]
    with pytest.raises(InvalidTransition, match="newer submission"):
        desk.decide(SUP, desk.approvals.repository.get(first.id))


def test_the_organisations_policy_may_approve_at_once_and_only_an_admin_sets_it(desk):
    with pytest.raises(Forbidden):
        desk.approvals.set_rules(SUP, {"case_plan": "never", "closure": "always"})
    assert desk.approvals.rules(FIRST) == {"case_plan": "always", "closure": "always"}
    desk.approvals.set_rules(ADMIN, load(schemas.PolicySchema, {"case_plan": "high_risk", "closure": "always"}))
    low = desk.submitted_plan(risk_level="low")
    [granted] = desk.requests(low)
    assert granted.status == ApprovalStatus.APPROVED and granted.decided_by == "policy"
    assert desk.cases.case(low.id).stage == Stage.IMPLEMENTATION
    high = desk.submitted_plan(risk_level="high")
    assert [a.status for a in desk.requests(high)] == [ApprovalStatus.PENDING]


def test_a_submission_nobody_could_approve_is_refused_before_it_is_made(desk):
    lone = Caller(username="cw5", role=Role.CASEWORKER)  # no supervisor
    with pytest.raises(InvalidTransition, match="no supervisor"):
        desk.approvals.check_submission(lone, "case_plan", "medium", False, None)
    desk.approvals.set_rules(ADMIN, {"case_plan": "never", "closure": "always"})
    assert desk.approvals.check_submission(lone, "case_plan", "medium", False, None) == {"approval_needed": False}
    assert desk.approvals.check_submission(CW, "closure", "low", False, None) == {"approval_needed": True}


def test_an_erased_or_closed_case_takes_no_decision(desk):
    case = desk.submitted_plan()
    [request] = desk.requests(case)
    desk.cases.erase(SUP, case.id, {"reason": "Asked"}, {})
    desk.relay.run()
    with pytest.raises(InvalidTransition, match="erased"):
        desk.decide(SUP, request)


def test_a_submission_announced_twice_opens_one_request(desk):
    case = desk.submitted_plan()
    [submitted] = [e for e in desk.relay.delivered if e["event_type"] == "CasePlanSubmitted"]
    assert desk.approvals.receive_submission(submitted) is False
    assert len(desk.requests(case)) == 1
