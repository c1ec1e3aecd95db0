"""Master key rotation on real PostgreSQL (services/cases/rotation.py, `casetrail-audit
rotate-master-key`): every case key re-wrapped under the new key while cases are written, an
interrupted run resumed (a failed batch, and the CLI killed with SIGKILL), an erasure that wins over
the re-wrap, a process without the key that fails its read and writes nothing, and the old key dropped
afterwards with every case still readable."""
import base64
import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import replace

import psycopg
import pytest

from services.cases.application import Cases
from services.cases.keyring import MasterKeys, fingerprint
from services.cases.queries import AuditTrail
from services.cases.rotation import rewrap
from shared.errors import ServiceUnavailable
from tests.integration.test_audit_store import AUDITOR, CW, SUP, SURVIVOR, journey, sql
from tests.support import ROOT

NEW = os.urandom(32)


def b64(key: bytes) -> str:
    return base64.b64encode(key).decode()


def ring(store, current: bytes, *retired: bytes) -> Cases:
    """Another instance of the cases service on the same schema, holding these master keys."""
    return Cases(replace(store.settings, master_key=current, retired_master_keys=retired))


@pytest.fixture
def instances(store):
    """Instances made by `ring` in a test, closed after it."""
    made: list[Cases] = []

    def make(current: bytes, *retired: bytes) -> Cases:
        made.append(ring(store, current, *retired))
        return made[-1]
    yield make
    for instance in made:
        instance.close()


def wrapped_under(store) -> dict[uuid.UUID, str | None]:
    return dict(sql(store, "SELECT case_id, master_key_id FROM {schema}.case_keys WHERE wrapped_key IS NOT NULL"))


def name_of(instance: Cases, case_id: uuid.UUID) -> str:
    return instance.repository.get(case_id).survivor["name"]


def test_every_case_key_is_rewrapped_and_every_case_reads_with_the_new_key_alone(store, instances):
    old = store.settings.master_key
    cases = [journey(store) for _ in range(5)]
    erased = cases.pop()
    store.erase(SUP, erased, {"reason": "survivor asked to be forgotten"}, {})
    # Keys wrapped before keys were named (the release before this one): no master_key_id.
    sql(store, "UPDATE {schema}.case_keys SET master_key_id = NULL WHERE case_id = %s", cases[0])
    assert set(wrapped_under(store).values()) == {None, fingerprint(old)}

    rotating = instances(NEW, old)
    rotation = rewrap(rotating, rotating.settings.master_keys, "ops-desk", batch=2)
    assert rotation.rewrapped == 4 and rotation.done and rotation.left == {} and not rotation.unopened
    assert wrapped_under(store) == dict.fromkeys(cases, fingerprint(NEW))
    assert sql(store, "SELECT wrapped_key FROM {schema}.case_keys WHERE case_id = %s", erased) == [(None,)]

    recorded = sql(store, "SELECT operator, to_key_id, held_key_ids, rewrapped, remaining, finished_at IS NOT NULL"
                          " FROM {schema}.master_key_rotations")
    assert recorded == [("ops-desk", fingerprint(NEW), [fingerprint(NEW), fingerprint(old)], 4, 0, True)]
    assert b64(NEW) not in repr(recorded) and b64(old) not in repr(recorded)

    # The old key dropped: every live case opens, the erased one stays erased, every chain holds.
    after = instances(NEW)
    assert [name_of(after, case_id) for case_id in cases] == [SURVIVOR["name"]] * 4
    assert after.repository.get(erased).survivor["name"] == "[erased]"
    assert all(AuditTrail(after).verify(AUDITOR, case_id)["valid"] for case_id in [*cases, erased])
    assert rewrap(after, after.settings.master_keys, "ops-desk").rewrapped == 0  # nothing left to do


def test_a_failed_batch_leaves_its_keys_as_they_were_and_the_next_run_finishes(store, instances, monkeypatch):
    old = store.settings.master_key
    cases = sorted(journey(store) for _ in range(6))
    rotating = instances(NEW, old)

    def stop_after_the_first_batch(done: int) -> None:
        raise KeyboardInterrupt
    with pytest.raises(KeyboardInterrupt):
        rewrap(rotating, rotating.settings.master_keys, "ops-desk", batch=2, progress=stop_after_the_first_batch)
    assert wrapped_under(store) == {**dict.fromkeys(cases[:2], fingerprint(NEW)),
                                    **dict.fromkeys(cases[2:], fingerprint(old))}

    # A batch that fails half-way (the third key of the next one): its transaction is rolled back whole.
    wrap, calls = MasterKeys.wrap, []

    def failing_wrap(self, case_id, case_key):
        calls.append(case_id)
        if len(calls) == 2:
            raise RuntimeError("the machine went away")
        return wrap(self, case_id, case_key)
    monkeypatch.setattr(MasterKeys, "wrap", failing_wrap)
    with pytest.raises(RuntimeError, match="went away"):
        rewrap(rotating, rotating.settings.master_keys, "ops-desk", batch=2)
    monkeypatch.undo()
    assert list(wrapped_under(store).values()).count(fingerprint(NEW)) == 2
    # Meanwhile every case opens, whichever key wraps it, in an instance holding both.
    assert [name_of(instances(NEW, old), case_id) for case_id in cases] == [SURVIVOR["name"]] * 6

    finished = rewrap(rotating, rotating.settings.master_keys, "ops-desk", batch=2)
    assert finished.rewrapped == 4 and finished.done
    assert [name_of(instances(NEW), case_id) for case_id in cases] == [SURVIVOR["name"]] * 6
    runs = sql(store, "SELECT rewrapped, finished_at IS NOT NULL FROM {schema}.master_key_rotations ORDER BY id")
    assert runs == [(2, False), (0, False), (4, True)]  # the stopped runs are on record too


def test_an_erasure_during_the_rotation_wins(store, instances):
    old = store.settings.master_key
    cases = sorted(journey(store) for _ in range(3))
    rotating = instances(NEW, old)
    s = store.settings
    with psycopg.connect(host=s.postgres_host, port=s.postgres_port, dbname=s.postgres_dbname,
                         user=s.postgres_user, password=s.postgres_password) as erasing:
        statement, params = store.keys.destruction(cases[1])
        erasing.execute(statement, params)  # the erasure's transaction, not committed yet
        result = {}
        rotation = threading.Thread(target=lambda: result.update(
            done=rewrap(rotating, rotating.settings.master_keys, "ops-desk", batch=10)))
        rotation.start()
        time.sleep(1.0)
        assert rotation.is_alive()  # waiting for the erasure's lock
        erasing.commit()
    rotation.join(30)
    assert result["done"].rewrapped == 2 and result["done"].done
    assert sql(store, "SELECT wrapped_key FROM {schema}.case_keys WHERE case_id = %s", cases[1]) == [(None,)]
    assert wrapped_under(store) == {cases[0]: fingerprint(NEW), cases[2]: fingerprint(NEW)}


def test_a_process_without_the_new_key_fails_the_read_clearly_and_writes_nothing(store, instances, caplog):
    old = store.settings.master_key
    case_id = journey(store)
    rotating = instances(NEW, old)
    assert rewrap(rotating, rotating.settings.master_keys, "ops-desk").done
    events = sql(store, "SELECT count(*) FROM {schema}.stored_events")
    keys = sql(store, "SELECT case_id, wrapped_key, master_key_id FROM {schema}.case_keys")

    stale = instances(old)  # an instance not yet given the new key
    with pytest.raises(ServiceUnavailable, match="cannot be opened by this instance"):
        stale.repository.get(case_id)
    with pytest.raises(ServiceUnavailable):
        stale.assess(CW, case_id, {"needs": ["legal"], "safety_concerns": "x", "notes": None, "risk_level": None}, {})
    assert fingerprint(NEW) in caplog.text and b64(NEW) not in caplog.text and b64(old) not in caplog.text
    assert sql(store, "SELECT count(*) FROM {schema}.stored_events") == events
    assert sql(store, "SELECT case_id, wrapped_key, master_key_id FROM {schema}.case_keys") == keys


def test_cases_registered_and_changed_during_the_rotation_read_after_it(store, instances):
    old = store.settings.master_key
    before = [journey(store) for _ in range(6)]
    rotating = instances(NEW, old)  # the cases service, restarted with the new key, serves on
    during: list[uuid.UUID] = []

    def meanwhile(done: int) -> None:
        during.append(journey(rotating))
        rotating.assess(CW, before[len(during) % 6], {"needs": ["legal"], "safety_concerns": "moved house",
                                                       "notes": None, "risk_level": None}, {})
    rotation = rewrap(rotating, rotating.settings.master_keys, "ops-desk", batch=2, progress=meanwhile)
    assert rotation.done and rotation.rewrapped == 6 and during
    after = instances(NEW)
    assert [name_of(after, case_id) for case_id in before + during] == [SURVIVOR["name"]] * len(before + during)
    assert all(AuditTrail(after).verify(AUDITOR, case_id)["valid"] for case_id in before + during)


def test_keys_an_instance_still_on_the_old_key_wraps_are_counted_not_hidden(store, instances):
    old = store.settings.master_key
    before = [journey(store) for _ in range(3)]
    rotating = instances(NEW, old)
    late: list[uuid.UUID] = []

    def stale_instance_writes(done: int) -> None:  # the fixture's store was never given the new key
        late.append(journey(store))
    rotation = rewrap(rotating, rotating.settings.master_keys, "ops-desk", batch=2, progress=stale_instance_writes)
    assert not rotation.done and rotation.left[fingerprint(old)] >= 1  # the last one at least: after the last batch
    assert "run again" in rotation.summary(rotating.settings.master_keys)["note"]
    assert late[-1] in wrapped_under(store) and wrapped_under(store)[late[-1]] == fingerprint(old)

    again = rewrap(rotating, rotating.settings.master_keys, "ops-desk")  # every instance restarted by now
    assert again.done
    after = instances(NEW)
    assert [name_of(after, case_id) for case_id in before + late] == [SURVIVOR["name"]] * len(before + late)


# --- the command line -----------------------------------------------------------------------------

def audit(store, *args, **env) -> subprocess.Popen:
    environment = {**os.environ, "CASES_POSTGRES_SCHEMA": store.settings.postgres_schema, "PYTHONWARNINGS": "ignore",
                   "AUDIT_OPERATOR": "ops-desk", **env}
    return subprocess.Popen([sys.executable, "-m", "services.cases.audit", *args], cwd=ROOT, env=environment,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finished(process: subprocess.Popen) -> tuple[int, str, str]:
    out, err = process.communicate(timeout=120)
    return process.returncode, out, err


@contextlib.contextmanager
def rotating_up_to(store, held: uuid.UUID, rewrapped: int, **keys):
    """The CLI re-wrapping one key per batch while another transaction holds `held`'s key: it has re-wrapped
    `rewrapped` keys and waits at that one when this yields the running process."""
    s = store.settings
    with psycopg.connect(host=s.postgres_host, port=s.postgres_port, dbname=s.postgres_dbname,
                         user=s.postgres_user, password=s.postgres_password) as holding:
        holding.execute(f"SELECT 1 FROM {s.postgres_schema}.case_keys WHERE case_id = %s FOR UPDATE", (held,))
        running = audit(store, "rotate-master-key", "--batch", "1", **keys)
        deadline = time.monotonic() + 60
        target = fingerprint(base64.b64decode(keys["CASES_MASTER_KEY"]))
        while list(wrapped_under(store).values()).count(target) < rewrapped and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(0.3)
        yield running
        holding.rollback()


def test_the_cli_killed_mid_rotation_resumes_and_then_the_old_key_can_go(store):
    old = store.settings.master_key
    cases = sorted(journey(store) for _ in range(5))
    keys = {"CASES_MASTER_KEY": b64(NEW), "CASES_RETIRED_MASTER_KEYS": b64(old)}
    # The fourth key is held by another transaction: the run re-wraps three, one per batch, then waits there.
    with rotating_up_to(store, cases[3], 3, **keys) as running:
        os.kill(running.pid, signal.SIGKILL)
        running.wait(30)
    assert wrapped_under(store) == {**dict.fromkeys(cases[:3], fingerprint(NEW)),
                                    **dict.fromkeys(cases[3:], fingerprint(old))}

    code, out, err = finished(audit(store, "master-keys", **keys))
    assert code == 0, err
    status = json.loads(out)
    assert status["current"] == fingerprint(NEW) and status["retired_still_wrapping"] == [fingerprint(old)]
    assert status["case_keys"] == {fingerprint(NEW): 3, fingerprint(old): 2}

    code, out, err = finished(audit(store, "rotate-master-key", "--progress", **keys))
    assert code == 0, err
    summary = json.loads(out)
    assert summary["rewrapped"] == 2 and summary["left_under_other_keys"] == {}
    assert "may be removed from CASES_RETIRED_MASTER_KEYS" in summary["note"]
    assert "2 case keys re-wrapped under " + fingerprint(NEW) in err
    assert b64(NEW) not in out + err and b64(old) not in out + err
    assert json.loads(finished(audit(store, "master-keys", **keys))[1])["retired_still_wrapping"] == []

    after = ring(store, NEW)
    try:
        assert [name_of(after, case_id) for case_id in cases] == [SURVIVOR["name"]] * 5
    finally:
        after.close()


def test_the_cli_without_the_key_that_wraps_changes_nothing_and_says_so(store):
    journey(store)
    keys = sql(store, "SELECT case_id, wrapped_key, master_key_id FROM {schema}.case_keys")
    code, out, err = finished(audit(store, "rotate-master-key", CASES_MASTER_KEY=b64(NEW)))  # the old key forgotten
    assert code == 1, err
    summary = json.loads(out)
    assert summary["rewrapped"] == 0 and summary["left_under_other_keys"] == {fingerprint(store.settings.master_key): 1}
    assert "does not hold" in summary["note"]
    assert sql(store, "SELECT case_id, wrapped_key, master_key_id FROM {schema}.case_keys") == keys

    code, _, err = finished(audit(store, "rotate-master-key", CASES_RETIRED_MASTER_KEYS="not-a-key"))
    assert code == 3 and "CASES_RETIRED_MASTER_KEYS (item 1) must be 32 bytes" in err and "not-a-key" not in err
    code, _, err = finished(audit(store, "rotate-master-key", "--batch", "0"))
    assert code == 2 and "--batch" in err


def test_the_cli_stopped_with_ctrl_c_says_what_it_kept(store):
    old = store.settings.master_key
    cases = sorted(journey(store) for _ in range(3))
    keys = {"CASES_MASTER_KEY": b64(NEW), "CASES_RETIRED_MASTER_KEYS": b64(old)}
    with rotating_up_to(store, cases[1], 1, **keys) as running:
        running.send_signal(signal.SIGINT)
        code, _, err = finished(running)
    assert code == 1 and "stopped: what was re-wrapped is kept" in err, err
    assert wrapped_under(store) == {cases[0]: fingerprint(NEW), cases[1]: fingerprint(old), cases[2]: fingerprint(old)}


def test_cases_keep_being_written_while_the_cli_rotates(store, instances):
    old = store.settings.master_key
    before = [journey(store) for _ in range(12)]
    serving = instances(NEW, old)  # the cases service, restarted with the new key
    written: list[uuid.UUID] = []
    stop = threading.Event()

    def caseworker() -> None:
        while not stop.is_set():
            written.append(journey(serving))
            serving.assess(CW, before[len(written) % len(before)], {
                "needs": ["legal"], "safety_concerns": "moved house", "notes": None, "risk_level": None}, {})
    writing = threading.Thread(target=caseworker)
    writing.start()
    try:
        code, out, err = finished(audit(store, "rotate-master-key", "--batch", "1",
                                        CASES_MASTER_KEY=b64(NEW), CASES_RETIRED_MASTER_KEYS=b64(old)))
    finally:
        stop.set()
        writing.join(60)
    assert code == 0, err
    assert json.loads(out)["rewrapped"] == 12 and written
    after = instances(NEW)
    everyone = before + written
    assert [name_of(after, case_id) for case_id in everyone] == [SURVIVOR["name"]] * len(everyone)
    assert all(AuditTrail(after).verify(AUDITOR, case_id)["valid"] for case_id in everyone)
