"""Makes the database of the release before schema migrations (commit 8ddedab), for
tests/integration/test_migrations.py: that release's code, run from a git worktree, on the shared
PostgreSQL and RabbitMQ under logins of its own, given real work over HTTP (people, cases through
several stages, consent, a referral, approvals, notifications, a webhook and its failed deliveries,
events set aside in quarantine, an erasure); then a pg_dump of the five schemas and what that release
answered when asked about it all.

    .venv/bin/python tests/integration/previous_release/make_dump.py   (PostgreSQL and RabbitMQ running)

Writes, beside this file: `keys.env` (the test-only keys the services ran with; kept when present, so a
new dump is made with the same keys), `casetrail-8ddedab.sql.gz` (pg_dump, plain, no owners or
grants: restored by the superuser, then provisioned) and `expected.json` (the answers). The committed
files were made by this script; run it again only to remake them."""
import base64
import gzip
import json
import os
import subprocess
import sys
import tempfile
import uuid
from datetime import UTC, datetime
from pathlib import Path

RELEASE = "8ddedab"
HERE = Path(__file__).resolve().parent
NEW_ROOT = HERE.parents[2]
SERVICES = ("cases", "referrals", "approvals", "notifications", "gateway")
DUMP, KEYS, EXPECTED = HERE / f"casetrail-{RELEASE}.sql.gz", HERE / "keys.env", HERE / "expected.json"
CONSENT = {"services": True, "share_with_providers": True, "mandatory_reporting_explained": True, "given_by": "survivor"}
ASSESSMENT = {"needs": ["medical", "psychosocial"], "safety_concerns": "threats from partner"}
PLAN = {"goals": [{"need": "medical", "action": "clinic referral", "responsible": "cw1", "due_date": "2026-12-15"}]}


def keys() -> dict[str, str]:
    """The test-only keys: read from keys.env when it exists, else made and written there."""
    if KEYS.exists():
        return dict(line.split("=", 1) for line in KEYS.read_text().splitlines() if "=" in line)
    from eventsourcing.cryptography import AESCipher

    from shared import identity
    made = {"JWT_SECRET": uuid.uuid4().hex * 2, "ADMIN_USERNAME": "admin", "ADMIN_PASSWORD": "admin-test-password",
            **{f"{s.upper()}_CIPHER_KEY": AESCipher.create_key(32) for s in SERVICES},
            "CASES_MASTER_KEY": base64.b64encode(os.urandom(32)).decode(),
            "AUDIT_SIGNING_KEY": base64.b64encode(os.urandom(32)).decode(), **identity.generate(SERVICES)}
    KEYS.write_text("# Test-only keys of the previous release's dump (make_dump.py). Never used anywhere else.\n"
                    + "".join(f"{k}={v}\n" for k, v in made.items()))
    return made


def outside() -> int:
    """In the new tree: the previous release in a worktree of its own, this script run inside it."""
    subprocess.run([str(NEW_ROOT / "scripts" / "stack.sh"), "infra-start"], check=True)
    with tempfile.TemporaryDirectory(prefix=f"casetrail-{RELEASE}-") as folder:
        tree = Path(folder) / "tree"
        subprocess.run(["git", "-C", str(NEW_ROOT), "worktree", "add", "--detach", str(tree), RELEASE], check=True)
        try:
            env = {**os.environ, "PYTHONPATH": str(tree),
                   "CASETRAIL_RUN_DIR": os.environ.get("CASETRAIL_RUN_DIR", str(NEW_ROOT / ".run"))}
            return subprocess.run([sys.executable, __file__, "--inside"], cwd=tree, env=env).returncode
        finally:
            subprocess.run(["git", "-C", str(NEW_ROOT), "worktree", "remove", "--force", str(tree)], check=True)


def inside() -> int:
    """In the previous release's tree (its tests.support, its services)."""
    from kombu import Connection, Exchange

    from services.approvals.domain import Approval
    from tests.support import (
        RUN_DIR,
        Api,
        Identities,
        ServiceProcess,
        create_people,
        free_port,
        service_env,
        wait_until,
    )
    suffix = uuid.uuid4().hex[:8]
    ids = Identities(f"casetrail_dump_{suffix}", f"casetrail-dump-{suffix}", os.environ.get("RABBITMQ_PORT", "5673"),
                     os.environ.get("POSTGRES_PORT", "54329"))
    dbname = f"casetrail_dump_{suffix}"
    logs = Path(tempfile.mkdtemp(prefix="casetrail-dump-logs-"))
    processes = {}
    try:
        ids.add_database(dbname)
        ids.add_vhost()
        env = {"POSTGRES_HOST": "127.0.0.1", "POSTGRES_PORT": ids.postgres_port, "POSTGRES_DBNAME": dbname,
               **ids.env(), **keys(), "RELAY_POLL_SECONDS": "0.5", "CONSUMER_MAX_ATTEMPTS": "3",
               "CONSUMER_RETRY_DELAY": "0.1", "RPC_TIMEOUT_SECONDS": "5", "WEBHOOK_SCAN_SECONDS": "0.3",
               "WEBHOOK_RETRY_DELAY": "0.2", "WEBHOOK_MAX_ATTEMPTS": "2", "WEBHOOK_ALLOWED_HOSTS": "127.0.0.1",
               "VHOST": ids.vhost, "LOG_DIR": str(logs)}
        for name in SERVICES:
            processes[name] = ServiceProcess(name, service_env(env), logs).start()
        api = Api(processes["gateway"].url)
        people = create_people(api, env["ADMIN_PASSWORD"])
        admin, cw1, cw2, sup1 = people["admin"], people["cw1"], people["cw2"], people["sup1"]

        def ok(response, status=None):
            assert response.ok and (status is None or response.status_code == status), response.text
            return response.json() if response.content else None

        def read(api_, case):
            return ok(api_.get(f"/v1/cases/{case['id']}"))

        def decide(case, kind, submission, decision="approve"):
            request = Approval.id_for(uuid.UUID(case["id"]), kind, submission)
            body = {"decision": "approve"} if decision == "approve" else {"decision": "reject",
                                                                          "comment": "add a safety goal"}
            wait_until(lambda: sup1.post(f"/v1/approvals/{request}/decision", body).status_code == 200,
                       what=f"the {kind} decision")

        ok(admin.request("PUT", "/v1/approval-policy", {"case_plan": "always", "closure": "always"}))
        clinic = ok(admin.post("/v1/providers", {"name": "Hope Clinic", "service_types": ["medical", "psychosocial"],
                                                 "area": "Kakuma", "contact": "clinic@example.org"}), 201)
        ok(admin.post("/v1/users", {"username": "clinic1", "password": "a-long-enough-password", "role": "provider",
                                    "display_name": "Hope Clinic", "provider_id": clinic["id"]}), 201)
        clinic1 = api.login("clinic1", "a-long-enough-password")
        refused_port = free_port()  # nothing listens there: every delivery fails, then is given up
        webhook = ok(admin.post("/v1/webhooks", {"url": f"http://127.0.0.1:{refused_port}/hook",
                                                 "events": ["case_reassigned", "approval_decided"],
                                                 "secret": "a-webhook-secret-of-the-dump"}), 201)

        # A: through every stage to closure: a plan rejected with a comment, revised, approved; a
        # conference, a follow-up, a closure approved, feedback from the team.
        a = ok(cw1.post("/v1/cases", {"survivor": {"name": "Halima", "phone": "+254700000002"}, "risk_level": "medium"}))
        ok(cw1.post(f"/v1/cases/{a['id']}/consent", CONSENT), 201)
        ok(cw1.post(f"/v1/cases/{a['id']}/assessment", ASSESSMENT))
        ok(cw1.request("PUT", f"/v1/cases/{a['id']}/plan", PLAN))
        submitted = ok(cw1.post(f"/v1/cases/{a['id']}/plan/submit"), 202)
        decide(a, "case_plan", submitted["version"], "reject")
        wait_until(lambda: read(cw1, a)["plan"]["status"] == "rejected", what="the rejection")
        ok(cw1.request("PUT", f"/v1/cases/{a['id']}/plan", {"goals": PLAN["goals"] + [
            {"need": "safety", "action": "safety plan", "responsible": "cw1", "due_date": "2026-12-01"}]}))
        submitted = ok(cw1.post(f"/v1/cases/{a['id']}/plan/submit"), 202)
        decide(a, "case_plan", submitted["version"])
        wait_until(lambda: read(cw1, a)["stage"] == "implementation", what="the plan approved")
        ok(cw1.post(f"/v1/cases/{a['id']}/conferences", {"held_on": "2026-11-20", "participants": ["cw1", "clinic"],
                                                         "decisions": "refer for counselling"}), 201)
        contact = datetime.now(UTC).isoformat()  # after registration, which may be less than a second ago
        ok(cw1.post(f"/v1/cases/{a['id']}/follow-ups", {"contacted": True, "contact_date": contact,
                                                        "safety_reassessed": True}), 201)
        requested = ok(cw1.post(f"/v1/cases/{a['id']}/closure", {"reason": "needs_met", "notes": "goals met"}), 202)
        decide(a, "closure", requested["version"])
        wait_until(lambda: read(cw1, a)["stage"] == "closed", what="the closure")
        ok(cw2.post(f"/v1/cases/{a['id']}/feedback", {"answers": {"satisfied": "yes"}}), 201)

        # B: consent, a referral the clinic accepts, a plan waiting for the supervisor; then reassigned.
        b = ok(cw1.post("/v1/cases", {"survivor": {"name": "Nadia"}, "risk_level": "high"}))
        ok(cw1.post(f"/v1/cases/{b['id']}/consent", CONSENT), 201)
        referral = wait_until(lambda: cw1.post(f"/v1/cases/{b['id']}/referrals", {
            "provider_id": clinic["id"], "service_type": "medical", "urgency": "urgent",
            "notes": "needs PEP within 72 hours"}).json().get("id"), what="the referral (consent to arrive)")
        wait_until(lambda: clinic1.post(f"/v1/referrals/{referral}/accept").status_code == 200,
                   what="the clinic to accept")
        ok(cw1.post(f"/v1/cases/{b['id']}/assessment", ASSESSMENT))
        ok(cw1.request("PUT", f"/v1/cases/{b['id']}/plan", PLAN))
        ok(cw1.post(f"/v1/cases/{b['id']}/plan/submit"), 202)
        ok(sup1.post(f"/v1/cases/{b['id']}/reassign", {"caseworker": "cw2"}))

        # C: registered, then erased by the team's supervisor. D: registered only (engagement).
        c = ok(cw2.post("/v1/cases", {"survivor": {"name": "Zawadi Unique-Name"}, "risk_level": "low"}))
        ok(sup1.post(f"/v1/cases/{c['id']}/erase", {"reason": "the survivor asked"}))
        d = ok(people["cw3"].post("/v1/cases", {"survivor": {"name": "Amina"}, "risk_level": "low"}))

        # Events set aside in quarantine: an unsigned event on the bus, refused by every consumer of it.
        forged = {"event_id": str(uuid.uuid4()), "event_type": "CaseRegistered", "aggregate_id": str(uuid.uuid4()),
                  "source": "cases", "payload": {"case_number": "GBV-FORGED", "assigned_to": "cw1"}}
        with Connection(env["AMQP_URI"]) as conn:
            conn.Producer().publish(json.dumps(forged).encode(), exchange=Exchange("casetrail.events", type="topic"),
                                    routing_key="CaseRegistered", content_type="application/json",
                                    content_encoding="utf-8", declare=[])

        def database():
            import psycopg
            return psycopg.connect(host="127.0.0.1", port=ids.postgres_port, dbname=dbname,
                                   user=ids.login("harness"), password=ids.passwords["harness"])

        def settled() -> bool:
            with database() as conn:
                set_aside = sum(conn.execute(f"SELECT count(*) FROM {s}.quarantine").fetchone()[0]
                                for s in ("referrals", "approvals", "notifications"))
                pending = conn.execute("SELECT count(*) FROM notifications.deliveries WHERE status = 'pending'"
                                       ).fetchone()[0]
                delivered = conn.execute("SELECT count(*) FROM notifications.deliveries").fetchone()[0]
                behind = [s for s in ("cases", "referrals", "approvals", "gateway") if conn.execute(
                    f"SELECT (SELECT coalesce(max(position), 0) FROM {s}.positions WHERE follower = 'outbox')"
                    f" < (SELECT coalesce(max(notification_id), 0) FROM {s}.{s}_events)").fetchone()[0]]
            state.update(set_aside=set_aside, deliveries=delivered, pending=pending, behind=behind)
            return set_aside >= 3 and delivered >= 1 and pending == 0 and not behind
        state: dict = {}
        try:
            wait_until(settled, timeout=60, what="quarantine, the webhook given up and every relay caught up")
        except AssertionError:
            raise AssertionError(f"not settled: {state}; logs in {logs}") from None
        wait_until(lambda: read(people["cw2"], b)["assigned_to"] == "cw2", what="the reassignment")

        cases = {"a": a["id"], "b": b["id"], "c": c["id"], "d": d["id"]}
        holders = {"a": "cw1", "b": "cw2", "c": "cw2", "d": "cw3"}
        logged_in = {**people, "clinic1": clinic1}
        expected = {
            "release": RELEASE, "cases": cases, "holders": holders, "webhook": webhook["id"], "referral": referral,
            "case": {k: ok(logged_in[holders[k]].get(f"/v1/cases/{cid}")) for k, cid in cases.items()},
            "referrals": {k: ok(logged_in[holders[k]].get(f"/v1/cases/{cid}/referrals")) for k, cid in cases.items()
                          if k in ("a", "b")},
            "lists": {u: ok(logged_in[u].get("/v1/cases")) for u in ("cw1", "cw2", "cw3", "sup1", "sup2")},
            "approvals": {u: ok(logged_in[u].get("/v1/approvals")) for u in ("sup1", "cw1", "cw2")},
            "provider_referrals": ok(clinic1.get("/v1/referrals")),
            "inbox": {u: ok(logged_in[u].get("/v1/notifications")) for u in ("cw1", "cw2", "sup1", "clinic1")},
            "webhooks": ok(admin.get("/v1/webhooks")),
            "deliveries": ok(admin.get(f"/v1/webhooks/{webhook['id']}/deliveries")),
            "providers": ok(admin.get("/v1/providers")),
            "approval_policy": ok(admin.get("/v1/approval-policy")),
            "me": {u: ok(logged_in[u].get("/v1/users/me")) for u in logged_in},
            # Read last: each read above is recorded in the case's chain.
            "history": {k: ok(people["aud1"].get(f"/v1/cases/{cid}/history")) for k, cid in cases.items()},
            "verify": {k: ok(people["aud1"].get(f"/v1/cases/{cid}/verify")) for k, cid in cases.items()},
        }
        for name in reversed(SERVICES):
            processes.pop(name).stop()
        with gzip.open(DUMP, "wb", compresslevel=9) as out:
            out.write(subprocess.run(
                [f"{os.environ.get('PG_BIN', '/usr/lib/postgresql/15/bin')}/pg_dump", "-h", str(RUN_DIR / "pgsock"), "-p", ids.postgres_port, "-U", "postgres", "--no-owner",
                 "--no-privileges", *(f"--schema={s}" for s in SERVICES), dbname],
                check=True, capture_output=True).stdout)
        EXPECTED.write_text(json.dumps(expected, indent=1, sort_keys=True) + "\n")
        print(f"wrote {DUMP.name}, {EXPECTED.name}")
        return 0
    finally:
        for process in processes.values():
            process.stop()
        ids.drop()


if __name__ == "__main__":
    sys.exit(inside() if "--inside" in sys.argv else outside())
