"""An auditor with only an auditor's login and the public key: the whole story of a case (referrals
and approvals included), exported signed over HTTP and with the command line through the gateway,
verified offline, every read recorded under the identity the reader proved."""
import json
import os
import subprocess
import sys

import rfc8785

from services.cases.attestation import check_bundle, keyring
from tests.integration.test_referrals import consented_case, made
from tests.support import PASSWORD, ROOT, wait_until


def cli(api, *args, password=PASSWORD):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("POSTGRES", "CASES", "AUDIT"))}
    return subprocess.run([sys.executable, "-m", "services.cases.audit", "--gateway", api.base, "--user", "aud1",
                           *args], cwd=ROOT, env={**env, "CASETRAIL_PASSWORD": password},
                          capture_output=True, text=True, timeout=120)


def story_of(auditor, case) -> list[tuple[str, str]]:
    items = auditor.get(f"/v1/cases/{case['id']}/history").json()["items"]
    return [(i["data"].get("event_type"), i["actor"]["username"]) for i in items if i["type"] == "ReferralRecorded"]


def test_the_export_tells_the_whole_story_signed_in_canonical_json(people, pathway):
    cw1, aud1, clinic1 = people["cw1"], people["aud1"], pathway["clinic1"]
    case = consented_case(cw1)
    referral = made(cw1, case, pathway["clinic"])
    assert clinic1.post(f"/v1/referrals/{referral['id']}/accept").status_code == 200
    wait_until(lambda: story_of(aud1, case) == [("ReferralMade", "cw1"), ("ReferralAccepted", "clinic1")],
               what="the referral's story in the case's history")

    response = aud1.get(f"/v1/cases/{case['id']}/export")
    assert response.status_code == 200, response.text
    bundle = response.json()
    assert response.content == rfc8785.dumps(bundle)  # canonical, as signed
    keys = aud1.get("/v1/audit/public-key").json()
    assert check_bundle(bundle, keyring(keys)) == []
    assert bundle["exported_by"] == {"username": "aud1", "role": "auditor"}
    assert bundle["state"]["survivor"]["name"] == "[redacted]" and "Wanjiru" not in response.text
    assert [r["status"] for r in bundle["state"]["referrals"]] == ["accepted"]
    assert bundle["head_hash"] == bundle["history"][-1]["hash"] == bundle["verification"]["head_hash"]

    after = aud1.get(f"/v1/cases/{case['id']}/history").json()["items"]
    exported = [i for i in after if i["type"] == "CaseViewed" and i["data"]["view"] == "audit_export"]
    assert [e["actor"] for e in exported] == [{"username": "aud1", "role": "auditor"}]

    forged = {**bundle, "exported_by": {"username": "someone-else", "role": "auditor"}}
    assert any("exported_by" in problem for problem in check_bundle(forged, keyring(keys)))


def test_who_may_export(people, pathway):
    case = consented_case(people["cw1"])
    path = f"/v1/cases/{case['id']}/export"
    assert people["cw1"].get(path).status_code == 200
    assert people["sup1"].get(path).status_code == 200
    assert people["cw3"].get(path).status_code == 404  # another team: never says the case exists
    for outsider in (people["admin"], pathway["clinic1"]):
        assert outsider.get(path).status_code == 403
    assert people["cw1"].get(f"/v1/cases/{case['id']}/export?x=1").status_code == 422


def test_an_auditor_exports_through_the_gateway_and_verifies_on_another_machine(people, api, tmp_path):
    case = consented_case(people["cw1"])
    bundle_file, keys_file = tmp_path / "bundle.json", tmp_path / "keys.json"
    exported = cli(api, "export", case["id"], "-o", str(bundle_file))
    assert exported.returncode == 0, exported.stderr
    assert cli(api, "public-key", "-o", str(keys_file)).returncode == 0

    offline = {k: v for k, v in os.environ.items() if not k.startswith(("POSTGRES", "CASES", "AUDIT", "AMQP"))}
    checked = subprocess.run([sys.executable, "-m", "services.cases.audit", "verify-bundle", str(bundle_file),
                              "--keys", str(keys_file)], cwd=ROOT, env=offline, capture_output=True, text=True)
    assert (checked.returncode, checked.stdout.strip()) == (0, "valid"), checked.stderr

    bundle = json.loads(bundle_file.read_text())
    bundle["state"]["risk_level"] = "low"
    bundle_file.write_text(json.dumps(bundle))
    changed = subprocess.run([sys.executable, "-m", "services.cases.audit", "verify-bundle", str(bundle_file),
                              "--keys", str(keys_file)], cwd=ROOT, env=offline, capture_output=True, text=True)
    assert changed.returncode == 1 and "state" in changed.stdout

    replayed = cli(api, "replay", case["id"])
    assert replayed.returncode == 0, replayed.stderr
    assert "CaseRegistered" in replayed.stdout and "verdict: the chain holds" in replayed.stdout
    assert "Wanjiru" not in replayed.stdout
    views = [i for i in people["aud1"].get(f"/v1/cases/{case['id']}/history").json()["items"]
             if i["type"] == "CaseViewed"]
    assert {i["actor"]["username"] for i in views} == {"aud1"}  # no other name was recorded

    assert cli(api, "export", case["id"], password="not-the-password").returncode == 4
    assert cli(api, "verify", "--all").returncode == 2  # an operator's command, not an auditor's
    assert cli(api, "export", "GBV-2026-000001").returncode == 2  # through the gateway: ids only
