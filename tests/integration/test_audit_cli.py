"""casetrail-audit against a real store: replay, verify (one case, all, with progress), export."""
import hashlib
import json
import os
import subprocess
import sys

from tests.integration.test_audit_store import AUDITOR, SURVIVOR, journey, sql
from tests.support import ROOT


def audit(store, *args):
    env = {**os.environ, "CASES_POSTGRES_SCHEMA": store.settings.postgres_schema, "PYTHONWARNINGS": "ignore"}
    return subprocess.run([sys.executable, "-m", "services.cases.audit", "--as", "ops1", *args], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=120)


def bundle_hash(bundle: dict) -> str:
    return hashlib.sha256(json.dumps(bundle, sort_keys=True).encode()).hexdigest()


def test_replay_verify_and_export_a_case(store, tmp_path):
    case_id = journey(store)
    number = store.repository.get(case_id).case_number

    replayed = audit(store, "replay", number)
    assert replayed.returncode == 0, replayed.stderr
    lines = replayed.stdout.splitlines()
    assert "CaseRegistered" in lines[0] and "engagement, high risk, plan none" in lines[0]
    assert "CasePlanDrafted" in lines[3] and "case_plan, high risk, plan draft" in lines[3]
    assert SURVIVOR["name"] not in replayed.stdout

    checked = audit(store, "verify", str(case_id))
    assert checked.returncode == 0 and json.loads(checked.stdout)["valid"] is True

    bundle_file = tmp_path / "bundle.json"
    assert audit(store, "export", number, "-o", str(bundle_file)).returncode == 0
    bundle = json.loads(bundle_file.read_text())
    assert bundle["case_number"] == number and bundle["verification"]["valid"] is True
    assert bundle["state"]["survivor"]["name"] == "[redacted]" and bundle["exported_by"] == "ops1"
    assert SURVIVOR["name"] not in bundle_file.read_text()
    # The hash is over the bundle without it, as services/cases/audit.py computes it; any change shows.
    claimed = bundle.pop("bundle_sha256")
    assert claimed == bundle_hash(bundle)
    changed = {**bundle, "history": bundle["history"][:-1]}
    assert bundle_hash(changed) != claimed
    assert bundle_hash({**bundle, "exported_by": "someone-else"}) != claimed
    views = [i for i in store.history(AUDITOR, case_id)["items"] if i["type"] == "CaseViewed"]
    assert {(v["actor"]["username"], v["data"]["view"]) for v in views} >= {("ops1", "replay"), ("ops1", "audit_export")}

    assert audit(store, "replay", "GBV-1999-000000").returncode == 2


def test_verify_all_shows_progress_and_fails_on_a_tampered_case(store):
    cases = [journey(store) for _ in range(3)]
    good = audit(store, "verify", "--all", "--progress")
    assert good.returncode == 0, good.stderr
    result = json.loads(good.stdout)
    assert result["chains"] == 3 and result["invalid"] == {} and result["events"] == 15
    assert "15/15 events" in good.stderr

    sql(store, "DELETE FROM {schema}.stored_events WHERE originator_id = %s AND originator_version = 3", cases[1])  # its plan, link 4
    bad = audit(store, "verify", "--all")
    assert bad.returncode == 1
    assert json.loads(bad.stdout)["invalid"] == {str(cases[1]): 4}
