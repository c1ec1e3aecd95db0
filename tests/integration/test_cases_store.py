"""The cases store on real PostgreSQL, with the clock injected: time-bound rules, the overdue
scan, snapshots, as-of."""
from datetime import UTC, datetime, timedelta

import pytest

from services.cases.application import CaseReactions, Cases
from services.cases.domain import Case
from services.cases.queries import CaseIndex, CaseQueries
from shared.caller import Caller
from shared.errors import InvalidTransition
from shared.outbox import Projector
from tests.support import case_in_implementation

CW = Caller.of({"username": "cw1", "role": "caseworker", "team": [], "correlation_id": None})
START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
NO_OPTIONS = {}


class Clock:
    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def store(store):
    store.clock = Clock(START)
    return store


def open_case(store, risk="medium"):
    return case_in_implementation(store, CW, risk)


def contact(store, case_id, when, contacted=True, risk=None):
    return store.record_follow_up(CW, case_id, {"contacted": contacted, "contact_date": when.isoformat(),
                                                "safety_reassessed": True, "risk_level": risk, "notes": None},
                                  NO_OPTIONS)


def test_unreachable_closure_refused_at_29_days_accepted_at_30(store):
    case_id = open_case(store)
    contact(store, case_id, START)
    store.clock.now = START + timedelta(days=29, hours=23)
    contact(store, case_id, store.clock.now - timedelta(hours=1), contacted=False)
    with pytest.raises(InvalidTransition, match="29 days ago"):
        store.request_closure(CW, case_id, {"reason": "unreachable", "notes": "x"}, NO_OPTIONS)
    store.clock.now = START + timedelta(days=30)
    assert store.request_closure(CW, case_id, {"reason": "unreachable", "notes": "x"}, NO_OPTIONS
                                 ).closure["status"] == "requested"


def test_a_missed_due_time_is_flagged_once_and_a_risk_change_reschedules(store):
    projector = Projector(store, CaseIndex())
    case_id = open_case(store, risk="medium")
    contact(store, case_id, START)
    projector.step()
    store.clock.now = START + timedelta(days=7, minutes=1)
    assert CaseReactions(store).flag_overdue_follow_ups() == 1
    projector.step()
    assert CaseReactions(store).flag_overdue_follow_ups() == 0
    restarted = Cases(store.settings)  # as after a restart: nothing in memory
    restarted.clock = store.clock
    assert CaseReactions(restarted).flag_overdue_follow_ups() == 0
    restarted.close()

    case = contact(store, case_id, store.clock.now, risk="high")  # a new schedule at the new cadence
    assert datetime.fromisoformat(case.next_due) == store.clock.now + timedelta(hours=84)
    projector.step()
    store.clock.now += timedelta(hours=85)
    assert CaseReactions(store).flag_overdue_follow_ups() == 1
    overdue = [e for e in store.events.get(case_id) if type(e).__name__ == "FollowUpOverdue"]
    assert len(overdue) == 2 and overdue[0].due != overdue[1].due


def test_a_long_lived_case_is_snapshotted_and_reads_the_same(store):
    case_id = open_case(store)
    store.clock.now = START + timedelta(days=10)
    for day in range(110):
        contact(store, case_id, START + timedelta(hours=day))
    snapshots = list(store.snapshots.get(case_id))
    assert snapshots and snapshots[-1].originator_version == 100
    from_snapshot = store.repository.get(case_id)
    replayed = _replay(store, case_id)
    assert from_snapshot.version == replayed.version == 115
    assert from_snapshot.next_due == replayed.next_due and from_snapshot.follow_ups == replayed.follow_ups == 110


def _replay(store, case_id) -> Case:
    case = None
    for event in store.events.get(case_id):
        case = event.mutate(case)
    return case


def test_as_of_reconstructs_earlier_states(store):
    case_id = open_case(store)
    mid = datetime.now(UTC)
    contact(store, case_id, START)
    then, consent, _ = CaseQueries(store).case_as_of(CW, case_id, mid)
    assert then.follow_ups == 0 and consent.services
    now, _, _ = CaseQueries(store).case_as_of(CW, case_id, datetime.now(UTC))
    assert now.follow_ups == 1
