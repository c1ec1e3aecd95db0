"""The audit trail and crypto-shredding on real PostgreSQL: the cases store with its hash chain,
per-case keys, and rows edited behind its back."""
import threading
import uuid
from dataclasses import replace
from datetime import UTC, datetime

import psycopg
import pytest
from eventsourcing.persistence import Mapper

from services.cases.application import Cases
from services.cases.queries import AuditTrail, CaseIndex, CaseQueries
from shared.caller import Caller
from shared.errors import Forbidden, InvalidTransition
from shared.outbox import Projector
from shared.store import AuditChains
from shared.vocabulary import Role

CW = Caller.of({"username": "cw1", "role": "caseworker", "team": [], "correlation_id": "c-1"})
SUP = Caller.of({"username": "sup1", "role": "supervisor", "team": ["cw1"], "correlation_id": "c-2"})
AUDITOR = Caller.of({"username": "aud1", "role": "auditor", "team": [], "correlation_id": "c-3"})
ADMIN = Caller.of({"username": "admin", "role": "admin", "team": [], "correlation_id": "c-4"})
SURVIVOR = {"name": "Nasra Chain-Plant", "phone": "+254733000111", "location": "Ifo 2", "sex": "female"}


def sql(store, statement: str, *params):
    s = store.settings
    with psycopg.connect(host=s.postgres_host, port=s.postgres_port, dbname=s.postgres_dbname,
                         user=s.postgres_user, password=s.postgres_password, autocommit=True) as conn:
        cursor = conn.execute(statement.replace("{schema}", s.postgres_schema).replace("stored_events", "cases_events"),
                              params)
        return cursor.fetchall() if cursor.description else None


def journey(store) -> uuid.UUID:
    case = store.register_case(CW, {"survivor": SURVIVOR, "risk_level": "high", "is_child": False,
                                    "caregiver": None, "intake_notes": "came with her sister Amal"})
    store.record_consent(CW, case.id, {"services": True, "share_with_providers": True,
                                       "mandatory_reporting_explained": True, "given_by": "survivor"}, {})
    store.assess(CW, case.id, {"needs": ["medical"], "safety_concerns": "husband threatens her",
                               "notes": None, "risk_level": None}, {})
    store.draft_plan(CW, case.id, {"goals": [{"need": "medical", "action": "clinic visit with Amal",
                                              "responsible": "cw1", "due_date": "2026-12-01"}]}, {})
    CaseQueries(store).read_case(CW, case.id)
    Projector(store, CaseIndex()).step()
    return case.id


def test_history_links_every_event_and_as_of_matches_it_at_every_sequence(store):
    case_id = journey(store)
    items = AuditTrail(store).history(CW, case_id)["items"]
    assert [i["type"] for i in items] == ["CaseRegistered", "ConsentRecorded", "AssessmentRecorded",
                                          "CasePlanDrafted", "CaseViewed"]
    assert [i["sequence"] for i in items] == [1, 2, 3, 4, 5]
    assert items[0]["prev_hash"] == "0" * 64
    assert all(b["prev_hash"] == a["hash"] for a, b in zip(items, items[1:]))
    assert items[0]["data"]["survivor"]["name"] == SURVIVOR["name"]
    assert items[0]["actor"] == {"username": "cw1", "role": "caseworker"}
    assert items[4]["data"] == {"case_id": str(case_id), "view": "case"}
    for item in items:
        moment = datetime.fromisoformat(item["occurred_at"].replace("Z", "+00:00"))
        state, consent, _ = CaseQueries(store).case_as_of(CW, case_id, moment)
        case_events = [i for i in items if i["stream"] == "case" and i["sequence"] <= item["sequence"]]
        assert state.version == case_events[-1]["stream_version"]
        assert (consent is not None) == (item["sequence"] >= 2)
    verdict = AuditTrail(store).verify(AUDITOR, case_id)
    assert verdict["valid"] and verdict["events"] == 5 + 1 + len(items)  # the history read and as_of reads
    assert verdict["head_hash"] == AuditTrail(store).history(AUDITOR, case_id)["items"][-1]["hash"]


def test_verification_names_the_event_edited_in_the_database(store):
    case_id = journey(store)
    assert AuditTrail(store).verify(AUDITOR, case_id) == {"valid": True, "events": 5, "head_hash": AuditTrail(store).history(
        AUDITOR, case_id)["items"][-1]["hash"]}
    # One byte of the assessment's stored (encrypted) state, changed in PostgreSQL directly.
    sql(store, "UPDATE {schema}.stored_events SET state = overlay(state placing"
               " decode(lpad(to_hex(get_byte(state, 20) # 1), 2, '0'), 'hex') from 21 for 1)"
               " WHERE originator_id = %s AND originator_version = 2", case_id)
    verdict = AuditTrail(store).verify(AUDITOR, case_id)
    assert verdict["valid"] is False and verdict["first_bad_sequence"] == 3
    assessment = AuditTrail(store).history(AUDITOR, case_id)["items"][2]
    assert assessment["sequence"] == 3 and assessment.get("unreadable") is True


def test_removed_and_reordered_events_are_detected(store):
    removed, reordered, truncated = journey(store), journey(store), journey(store)
    sql(store, "DELETE FROM {schema}.stored_events WHERE originator_id = %s AND originator_version = 2", removed)
    assert AuditTrail(store).verify(AUDITOR, removed)["first_bad_sequence"] == 3
    # Swap two events' stored bytes: each row still decrypts, but the chain no longer holds.
    sql(store, "UPDATE {schema}.stored_events a SET state = b.state FROM {schema}.stored_events b"
               " WHERE a.originator_id = %s AND b.originator_id = a.originator_id"
               " AND a.originator_version + b.originator_version = 5 AND a.originator_version IN (2, 3)", reordered)
    assert AuditTrail(store).verify(AUDITOR, reordered)["first_bad_sequence"] == 3
    # Cut the last event and its link: the recorded head no longer matches.
    sql(store, "DELETE FROM {schema}.audit_chain WHERE chain_id = %s AND sequence ="
               " (SELECT max(sequence) FROM {schema}.audit_chain WHERE chain_id = %s)", truncated, truncated)
    bad = AuditTrail(store).verify(AUDITOR, truncated)
    assert not bad["valid"] and bad["first_bad_sequence"] == bad["events"] + 1
    everything = AuditChains(store).verify_all()
    assert set(everything["invalid"]) == {str(removed), str(reordered), str(truncated)}
    assert everything["unchained_events"] == 1  # the truncated case's last event has no link any more


def test_identifying_fields_are_sealed_with_the_case_key_under_the_service_cipher(store):
    case_id = journey(store)
    service_only = Mapper(transcoder=store.mapper.transcoder, cipher=store.mapper.cipher,
                          compressor=store.mapper.compressor)
    registered = service_only.to_domain_event(store.recorder.select_events(case_id, limit=1)[0])
    assert registered.survivor["name"].startswith("sealed:")
    assert registered.survivor["sex"] == "female" and registered.risk_level == "high"
    assert SURVIVOR["name"] not in repr(vars(registered))
    wrapped = sql(store, "SELECT wrapped_key FROM {schema}.case_keys WHERE case_id = %s", case_id)[0][0]
    assert len(wrapped) == 12 + 32 + 16


def test_erasure_destroys_the_key_and_every_copy_reads_erased_while_the_chain_holds(store):
    case_id = journey(store)
    before = datetime.now(UTC)
    for _ in range(100):  # past the snapshot interval: a snapshot holds the survivor's data too
        store.hold_conference(CW, case_id, {"held_on": "2026-11-20", "participants": ["Nasra", "cw1"],
                                            "decisions": "Nasra stays with Amal", "next_steps": None}, {})
    snapshot = store.snapshots.get(case_id, desc=True, limit=1)
    assert next(iter(snapshot)).state["survivor"]["name"] == SURVIVOR["name"]
    erased = store.erase(SUP, case_id, {"reason": "survivor asked to be forgotten"}, {})
    assert erased.survivor == {"name": "[erased]", "phone": "[erased]", "location": "[erased]", "sex": "female"}
    assert erased.intake_notes == "[erased]" and erased.assessment["safety_concerns"] == "[erased]"
    assert erased.plan["goals"][0]["action"] == "[erased]" and erased.plan["goals"][0]["responsible"] == "[erased]"
    assert erased.erasure["erased_by"] == "sup1"
    assert next(iter(store.snapshots.get(case_id, desc=True, limit=1))).state["survivor"]["name"] == "[erased]"
    then, _, _ = CaseQueries(store).case_as_of(AUDITOR, case_id, before)
    assert then.survivor["name"] == "[erased]" and then.intake_notes == "[erased]"
    items = AuditTrail(store).history(CW, case_id)["items"]
    assert items[0]["data"]["survivor"]["name"] == "[erased]"
    erasure = next(i for i in items if i["type"] == "CaseErased")
    assert erasure["actor"]["username"] == "sup1" and erasure["data"]["reason"] == "[erased]"
    assert "Nasra" not in repr(items) and "Amal" not in repr(items)
    assert AuditTrail(store).verify(AUDITOR, case_id)["valid"]
    assert sql(store, "SELECT wrapped_key FROM {schema}.case_keys WHERE case_id = %s", case_id)[0][0] is None
    with pytest.raises(InvalidTransition, match="erased"):
        store.hold_conference(CW, case_id, {"held_on": "2026-11-21", "participants": ["Nasra"],
                                            "decisions": "Nasra again", "next_steps": None}, {})
    with pytest.raises(InvalidTransition, match="already been erased"):
        store.erase(SUP, case_id, {"reason": "twice"}, {})


def test_an_erased_key_stays_erased_for_a_fresh_instance_and_other_cases_keep_theirs(store):
    erased, kept = journey(store), journey(store)
    store.erase(SUP, erased, {"reason": "survivor asked"}, {})
    fresh = Cases(store.settings)
    try:
        assert fresh.repository.get(erased).survivor["name"] == "[erased]"
        assert fresh.repository.get(kept).survivor["name"] == SURVIVOR["name"]
    finally:
        fresh.close()


def test_auditors_read_any_case_redacted_and_admins_read_none(store):
    case_id = journey(store)
    items = AuditTrail(store).history(AUDITOR, case_id)["items"]
    assert items[0]["data"]["survivor"] == {"name": "[redacted]", "phone": "[redacted]",
                                            "location": "[redacted]", "sex": "female"}
    assert items[0]["data"]["intake_notes"] == "[redacted]"
    assert items[2]["data"]["safety_concerns"] == "[redacted]" and items[2]["data"]["needs"] == ["medical"]
    assert items[3]["data"]["goals"][0]["action"] == "[redacted]"
    assert "Nasra" not in repr(items) and "Amal" not in repr(items)
    assert AuditTrail(store).history(AUDITOR, case_id)["items"][-1]["actor"] == {"username": "aud1", "role": "auditor"}
    for reader in (ADMIN, replace(ADMIN, role=Role.PROVIDER)):
        with pytest.raises(Forbidden):
            AuditTrail(store).history(reader, case_id)
        with pytest.raises(Forbidden):
            AuditTrail(store).verify(reader, case_id)
        with pytest.raises(Forbidden):
            CaseQueries(store).case_as_of(reader, case_id, datetime.now(UTC))


def test_the_chain_holds_when_many_people_read_and_write_one_case_at_once(store):
    case_id = journey(store)
    readers = [replace(CW, username=f"reader{n}") for n in range(8)]

    def read(who):
        for _ in range(5):
            store.record_view(who, case_id, "case")

    def confer():
        for n in range(5):
            store.hold_conference(CW, case_id, {"held_on": "2026-11-20", "participants": ["cw1"],
                                                "decisions": f"round {n}", "next_steps": None}, {})
    threads = [threading.Thread(target=read, args=(who,)) for who in readers] + [threading.Thread(target=confer)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    verdict = AuditTrail(store).verify(AUDITOR, case_id)
    assert verdict["valid"] and verdict["events"] == 5 + 8 * 5 + 5, verdict
    sequences = [i["sequence"] for i in AuditTrail(store).history(AUDITOR, case_id, limit=200, record=False)["items"]]
    assert sequences == list(range(1, verdict["events"] + 1))
