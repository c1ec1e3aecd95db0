"""casetrail-audit against a real store, as the installation's operator: replay, verify (one case,
all, with progress and a manifest), signed exports checked offline, and checkpoints that catch a
whole chain rewritten by a database superuser."""
import json
import os
import subprocess
import sys
from pathlib import Path

from services.cases.queries import AuditTrail, CaseQueries
from shared.caller import Caller
from shared.store import GENESIS, link_hash
from tests.integration.test_audit_store import AUDITOR, SURVIVOR, journey, sql
from tests.support import ROOT


def audit(store, *args, checkpoints: Path | None = None, **env):
    environment = {**os.environ, "CASES_POSTGRES_SCHEMA": store.settings.postgres_schema, "PYTHONWARNINGS": "ignore",
                   "AUDIT_OPERATOR": "ops-desk", "AUDIT_CHECKPOINT_DIR": str(checkpoints or ""), **env}
    return subprocess.run([sys.executable, "-m", "services.cases.audit", *args], cwd=ROOT,
                          env=environment, capture_output=True, text=True, timeout=120)


def test_replay_shows_each_event_redacted_and_the_verdict_recorded_as_the_operator(store):
    case_id = journey(store)
    number = store.repository.get(case_id).case_number

    replayed = audit(store, "replay", number)
    assert replayed.returncode == 0, replayed.stderr
    lines = replayed.stdout.splitlines()
    assert "CaseRegistered" in lines[0] and "engagement, high risk, plan none" in lines[0]
    assert '"name": "[redacted]"' in lines[0] and "cw1 (caseworker)" in lines[0]
    assert "CasePlanDrafted" in lines[3] and "case_plan, high risk, plan draft" in lines[3]
    assert lines[-1].startswith("verdict: the chain holds: ")
    assert SURVIVOR["name"] not in replayed.stdout

    views = [i for i in AuditTrail(store).history(AUDITOR, case_id, record=False)["items"] if i["type"] == "CaseViewed"]
    assert views[-1]["actor"] == {"username": "ops-desk", "role": "operator"}
    assert views[-1]["data"]["view"] == "replay"

    assert audit(store, "replay", "GBV-1999-000000").returncode == 2
    # The reader's name is never taken from the command line.
    assert audit(store, "--as", "someone-else", "replay", number).returncode == 2
    unnamed = audit(store, "replay", number, AUDIT_OPERATOR="")
    assert unnamed.returncode == 4 and "AUDIT_OPERATOR" in unnamed.stderr


def test_a_signed_export_verifies_offline_and_names_what_was_changed(store, tmp_path):
    case_id = journey(store)
    bundle_file, keys_file = tmp_path / "bundle.json", tmp_path / "keys.json"
    assert audit(store, "export", str(case_id), "-o", str(bundle_file)).returncode == 0
    assert audit(store, "public-key", "-o", str(keys_file)).returncode == 0
    bundle = json.loads(bundle_file.read_text())
    assert bundle["exported_by"] == {"username": "ops-desk", "role": "operator"}
    assert bundle["state"]["survivor"]["name"] == "[redacted]" and SURVIVOR["name"] not in bundle_file.read_text()
    assert bundle["head_hash"] == bundle["history"][-1]["hash"] and bundle["verification"]["valid"] is True

    # Offline: no database, no service settings; only the two files.
    offline = {k: v for k, v in os.environ.items() if not k.startswith(("POSTGRES", "CASES", "AUDIT"))}
    checked = subprocess.run([sys.executable, "-m", "services.cases.audit", "verify-bundle", str(bundle_file),
                              "--keys", str(keys_file)], cwd=ROOT, env=offline, capture_output=True, text=True)
    assert (checked.returncode, checked.stdout.strip()) == (0, "valid"), checked.stderr

    bundle["history"][2]["actor"]["username"] = "someone-else"
    bundle_file.write_text(json.dumps(bundle))
    changed = audit(store, "verify-bundle", str(bundle_file), "--keys", str(keys_file))
    assert changed.returncode == 1
    assert "history[2]" in changed.stdout and "sequence 3" in changed.stdout


def test_verify_all_shows_progress_writes_a_manifest_and_fails_on_a_tampered_case(store, tmp_path):
    cases = [journey(store) for _ in range(3)]
    manifest = tmp_path / "heads.json"
    good = audit(store, "verify", "--all", "--progress", "--manifest", str(manifest))
    assert good.returncode == 0, good.stderr
    result = json.loads(good.stdout)
    assert result["chains"] == 3 and result["invalid"] == {} and result["events"] == 15
    assert "15/15 events" in good.stderr
    heads = {h["chain_id"]: (h["sequence"], h["hash"]) for h in json.loads(manifest.read_text())["heads"]}
    assert heads == {str(c): (5, AuditTrail(store).verify(AUDITOR, c)["head_hash"]) for c in cases}

    sql(store, "DELETE FROM {schema}.stored_events WHERE originator_id = %s AND originator_version = 3", cases[1])
    bad = audit(store, "verify", "--all")
    assert bad.returncode == 1
    assert json.loads(bad.stdout)["invalid"] == {str(cases[1]): 4}


def rewrite_chain(store, case_id, from_sequence: int) -> None:
    """What a database superuser could do: change a stored event, then recompute every later link and
    the head, so that the chain holds again on its own."""
    sql(store, "UPDATE {schema}.stored_events SET state = state || '\\x00'::bytea WHERE (originator_id,"
               " originator_version) = (SELECT originator_id, originator_version FROM {schema}.audit_chain"
               " WHERE chain_id = %s AND sequence = %s)", case_id, from_sequence)
    links = sql(store, "SELECT c.sequence, c.originator_id, c.originator_version, e.topic, e.state"
                       " FROM {schema}.audit_chain c JOIN {schema}.stored_events e USING (originator_id,"
                       " originator_version) WHERE c.chain_id = %s ORDER BY c.sequence", case_id)
    prev = GENESIS
    for sequence, originator_id, version, topic, state in links:
        prev = link_hash(prev, originator_id, version, topic, state)
        sql(store, "UPDATE {schema}.audit_chain SET hash = %s WHERE chain_id = %s AND sequence = %s",
            prev, case_id, sequence)
    sql(store, "UPDATE {schema}.audit_heads SET hash = %s WHERE chain_id = %s", prev, case_id)


def test_a_whole_chain_rewritten_after_a_checkpoint_is_caught(store, tmp_path):
    checkpoints = tmp_path / "checkpoints"
    kept, rewritten, shortened = journey(store), journey(store), journey(store)
    made = audit(store, "checkpoint", checkpoints=checkpoints)
    assert made.returncode == 0, made.stderr
    assert len(list(checkpoints.iterdir())) == 1
    CaseQueries(store).read_case(Caller.of({"username": "cw1", "role": "caseworker"}), kept)  # grows: fine

    rewrite_chain(store, rewritten, 2)
    assert AuditTrail(store).verify(AUDITOR, rewritten)["valid"] is True  # the chain alone no longer tells
    sql(store, "DELETE FROM {schema}.audit_chain WHERE chain_id = %s AND sequence = 5", shortened)
    sql(store, "DELETE FROM {schema}.stored_events WHERE originator_id = %s AND originator_version = 1",
        store.streams_of(shortened)[2])  # its view (link 5), event and link both gone
    sql(store, "UPDATE {schema}.audit_heads SET sequence = 4, hash = (SELECT hash FROM {schema}.audit_chain"
               " WHERE chain_id = %s AND sequence = 4) WHERE chain_id = %s", shortened, shortened)
    assert AuditTrail(store).verify(AUDITOR, shortened)["valid"] is True

    checked = audit(store, "verify", "--all", checkpoints=checkpoints)
    assert checked.returncode == 1, checked.stderr
    drifted = json.loads(checked.stdout)["drifted"]
    assert set(drifted) == {str(rewritten), str(shortened)}
    assert drifted[str(rewritten)].startswith("rewritten") and drifted[str(shortened)].startswith("shortened")


def test_a_tampered_checkpoint_is_reported_not_skipped(store, tmp_path):
    checkpoints = tmp_path / "checkpoints"
    journey(store)
    assert audit(store, "checkpoint", checkpoints=checkpoints).returncode == 0
    [written] = checkpoints.iterdir()
    altered = json.loads(written.read_text())
    altered["heads"][0]["hash"] = "f" * 64
    written.chmod(0o644)
    written.write_text(json.dumps(altered))
    checked = audit(store, "verify", "--all", checkpoints=checkpoints)
    assert checked.returncode == 1
    assert "does not hold" in json.loads(checked.stdout)["checkpoint_invalid"]
