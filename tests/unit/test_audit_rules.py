"""The pure parts of the audit trail: sealing paths, redaction, and the chain check."""
import os
import uuid

import pytest

from services.cases.protection import (
    CASE_FILE,
    ERASED,
    IDENTIFYING,
    KeyMissing,
    open_sealed,
    redacted,
    seal,
    transform_all,
)
from shared.store import GENESIS, ChainCheck, link_hash

CASE = uuid.uuid4()
REGISTERED = {"survivor": {"name": "Asha", "phone": "+2547", "sex": "female", "date_of_birth": None},
              "caregiver": None, "intake_notes": "with her aunt", "risk_level": "high"}


def test_only_identifying_values_change_and_the_shape_stays():
    sealed = transform_all(REGISTERED, IDENTIFYING["CaseRegistered"], lambda v: "X")
    assert sealed == {"survivor": {"name": "X", "phone": "X", "sex": "female", "date_of_birth": None},
                      "caregiver": None, "intake_notes": "X", "risk_level": "high"}
    assert REGISTERED["survivor"]["name"] == "Asha"  # the original is untouched


def test_wildcards_reach_into_lists_and_dicts():
    plan = {"goals": [{"action": "clinic with Asha", "consulted": ["aunt", "Asha"], "need": "medical"}]}
    assert transform_all(plan, IDENTIFYING["CasePlanDrafted"], lambda v: "X") == {
        "goals": [{"action": "X", "consulted": ["X", "X"], "need": "medical"}]}
    # Feedback answers' keys are free text too: the whole dict is one identifying value.
    assert redacted({"answers": {"q1": "good", "Asha's aunt": "Asha"}}, IDENTIFYING["ClientFeedbackRecorded"]) == {
        "answers": "[redacted]"}


def test_snapshot_paths_are_the_case_file_paths_under_state():
    assert IDENTIFYING["Snapshot"] == tuple(f"state.{p}" for p in CASE_FILE)


def test_a_sealed_value_opens_with_its_case_key_only_and_reads_erased_without_it():
    key = os.urandom(32)
    token = seal(key, CASE, {"nested": ["Asha"]})
    assert "Asha" not in token and token.startswith("sealed:")
    assert open_sealed(key, CASE, token) == {"nested": ["Asha"]}
    assert open_sealed(None, CASE, token) == ERASED
    with pytest.raises(KeyMissing):
        open_sealed(key, uuid.uuid4(), token)  # moved to another case
    with pytest.raises(KeyMissing):
        open_sealed(os.urandom(32), CASE, token)
    assert seal(None, CASE, "written after erasure") == ERASED


class Row:
    def __init__(self, version: int, state: bytes):
        self.originator_id, self.originator_version, self.topic, self.state = CASE, version, "t:E", state


def chain(n: int) -> tuple[list[dict], dict]:
    links, prev = [], GENESIS
    for i in range(1, n + 1):
        row = Row(i, f"state {i}".encode())
        prev = link_hash(prev, row.originator_id, row.originator_version, row.topic, row.state)
        links.append({"sequence": i, "originator_id": CASE, "originator_version": i, "topic": row.topic,
                      "state": row.state, "hash": prev})
    return links, {"sequence": n, "hash": prev}


def check(links, head, stored=None) -> dict:
    checker = ChainCheck()
    for link in links:
        checker.add(link)
    checker.end(head, len(links) if stored is None else stored)
    return checker.result()


def test_an_intact_chain_holds():
    links, head = chain(5)
    assert check(links, head) == {"valid": True, "events": 5, "head_hash": head["hash"]}


@pytest.mark.parametrize("damage, first_bad", [
    (lambda links: links[2].update(state=b"changed"), 3),
    (lambda links: links[1].update(topic=None), 2),                       # its event row deleted
    (lambda links: links.pop(3), 4),                                      # a link deleted
    (lambda links: links[1].update(state=links[2]["state"]) or links[2].update(state=b"state 2"), 2),  # swapped
    (lambda links: links[4].update(originator_version=9), 5),
])
def test_damage_is_found_at_its_sequence(damage, first_bad):
    links, head = chain(5)
    damage(links)
    assert check(links, head)["first_bad_sequence"] == first_bad


def test_a_cut_off_end_an_unlinked_event_and_a_missing_head_are_found():
    links, head = chain(5)
    assert check(links[:4], head, stored=4)["first_bad_sequence"] == 5
    assert check(links, head, stored=6)["first_bad_sequence"] == 6
    assert check(links, None)["first_bad_sequence"] == 6
