"""Offline first, in the browser: the shell from the service worker, signing in from the device's encrypted copy,
commands queued without a network and sent in order when it returns, a 412 reconciled on a screen that shows both
versions, no plaintext survivor data in IndexedDB, and the copy (queue included) wiped at logout and idle timeout."""
import re
import uuid

from conftest import PASSWORD
from playwright.sync_api import Page, expect

# What the browser logs, as errors, of requests that fail by design here: no network, a 412 or 409 answered.
EXPECTED = re.compile(r"ERR_INTERNET_DISCONNECTED|status of 412 |status of 409 |Failed to fetch")

CONSENT = {"services": True, "share_with_providers": True, "mandatory_reporting_explained": True,
           "given_by": "survivor"}

QUEUE_CONSENT = """([caseId, version, body]) => import('/app/commands.js').then((commands) => commands.sendCommand(
  {caseId, path: `/v1/cases/${caseId}/consent`, body, version, label: 'case.consent'}))"""

# Three steps made offline on the version the caseworker saw: each needs the one before, and the plan's If-Match
# must be the version the assessment produces.
QUEUE_STEPS = """([caseId, version, consent]) => import('/app/commands.js').then(async (commands) => [
  await commands.sendCommand({caseId, path: `/v1/cases/${caseId}/consent`, body: consent, version,
    label: 'case.consent'}),
  await commands.sendCommand({caseId, path: `/v1/cases/${caseId}/assessment`, version, label: 'case.assessment',
    body: {needs: ['medical'], safety_concerns: 'Lives with the aggressor'}}),
  await commands.sendCommand({caseId, path: `/v1/cases/${caseId}/plan`, method: 'PUT', version, label: 'case.plan',
    body: {goals: [{need: 'medical', action: 'Clinic visit', responsible: 'Caseworker', due_date: '2030-01-31'}]}}),
])"""

# Every record of every store, with the sealed bytes decoded as text: what someone holding the device would read.
RAW_RECORDS = """() => new Promise((resolve, reject) => {
  const request = indexedDB.open('casetrail');
  request.onerror = () => reject(request.error);
  request.onsuccess = () => {
    const db = request.result, texts = [];
    const transaction = db.transaction([...db.objectStoreNames], 'readonly');
    const decoder = new TextDecoder('utf-8', {fatal: false});
    const text = (value) => JSON.stringify(value, (key, item) =>
      item instanceof Uint8Array ? decoder.decode(item) : item);
    for (const name of db.objectStoreNames) {
      transaction.objectStore(name).openCursor().onsuccess = (event) => {
        const cursor = event.target.result;
        if (cursor) { texts.push(String(cursor.key) + ' ' + text(cursor.value)); cursor.continue(); }
      };
    }
    transaction.oncomplete = () => { db.close(); resolve(texts); };
  };
})"""

DATABASES = "() => indexedDB.databases().then((list) => list.map((db) => db.name))"


def unexpected(page: Page) -> list[str]:
    return [problem for problem in page.problems if not EXPECTED.search(problem)]


def a_case(api, name: str) -> dict:
    return api.ok("POST", "/v1/cases", {"survivor": {"name": name, "location": "Camp 4"}, "risk_level": "high"})


def open_case_file(page: Page, case: dict) -> None:
    page.get_by_role("navigation").get_by_role("link", name="My cases").click()
    page.get_by_role("link", name=case["case_number"]).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Case {case['case_number']}")


def synced(page: Page) -> None:
    """The changes feed's run (and the queue's) has finished."""
    page.evaluate("() => import('/app/sync.js').then((sync) => sync.refresh())")


def sign_in_here(page: Page, username: str, password: str) -> None:
    page.get_by_label("Username", exact=True).fill(username)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in").click()


def server_consent(api, case_id: str):
    return api.ok("GET", f"/v1/cases/{case_id}")["consent"]


def test_offline_sign_in_queue_and_send_when_the_network_returns(admin, new_user, page, sign_in):
    supervisor = new_user("supervisor")
    caseworker = new_user("caseworker", supervisor=supervisor)
    api = admin.login(caseworker)
    name = f"Zainab Offline-{uuid.uuid4().hex[:8]}"
    case = a_case(api, name)

    sign_in(page, caseworker)
    expect(page.get_by_role("heading", level=1)).to_have_text("My cases")
    page.wait_for_function("() => navigator.serviceWorker.controller !== null")
    open_case_file(page, case)
    synced(page)

    page.context.set_offline(True)
    page.reload()  # the service worker serves the shell; the tokens were in memory only
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in")
    sign_in_here(page, caseworker, "not-the-password-at-all")
    expect(page.get_by_role("alert")).to_have_text("The username or password is wrong.")
    sign_in_here(page, caseworker, PASSWORD)
    expect(page.get_by_role("heading", level=1)).to_have_text("My cases")
    expect(page.get_by_role("status")).to_contain_text("Offline: signed in on this device only.")
    expect(page.get_by_text("You are offline: this is the list as it was last seen.")).to_be_visible()
    open_case_file(page, case)
    expect(page.get_by_text(name)).to_be_visible()

    assert page.evaluate(QUEUE_STEPS, [case["id"], case["version"], CONSENT]) == [{"queued": True}] * 3
    expect(page.get_by_role("status")).to_contain_text("3 changes waiting.")
    page.get_by_role("navigation").get_by_role("link", name="Changes waiting").click()
    rows = page.get_by_role("row", name=re.compile(case["case_number"]))
    expect(rows).to_have_count(3)
    for row, step in zip(rows.all(), ["Consent", "Assessment", "Case action plan"], strict=True):
        expect(row).to_contain_text(step)
        expect(row).to_contain_text("Waiting for the network")
    records = page.evaluate(RAW_RECORDS)
    assert any(record.startswith(f"{caseworker}/q/") for record in records), records
    assert any(record.startswith(f"{caseworker}/case/{case['id']}") for record in records), records
    assert not [record for record in records if name in record or "Camp 4" in record]
    assert server_consent(api, case["id"]) is None

    page.context.set_offline(False)  # back online: sign in again, then the queue goes
    expect(page.get_by_text("The network is back. Sign in again")).to_be_visible()
    sign_in_here(page, caseworker, PASSWORD)
    expect(page.get_by_role("heading", level=1)).to_have_text("My cases")
    synced(page)
    file = api.ok("GET", f"/v1/cases/{case['id']}")
    assert file["consent"]["services"] is True and file["assessment"]["needs"] == ["medical"]
    assert file["plan"]["status"] == "draft" and file["plan"]["goals"][0]["action"] == "Clinic visit"
    page.get_by_role("navigation").get_by_role("link", name="Changes waiting").click()
    expect(page.get_by_text("Every change has been sent.")).to_be_visible()
    assert not unexpected(page), page.problems


def test_a_change_queued_on_a_case_that_moved_on_is_reconciled_never_overwritten(admin, new_user, page, sign_in,
                                                                                   axe_check):
    supervisor = new_user("supervisor")
    caseworker = new_user("caseworker", supervisor=supervisor)
    colleague = new_user("caseworker", supervisor=supervisor)
    api = admin.login(caseworker)
    case = a_case(api, f"Conflict Test-{uuid.uuid4().hex[:6]}")
    sign_in(page, caseworker)
    expect(page.get_by_role("heading", level=1)).to_have_text("My cases")
    open_case_file(page, case)
    synced(page)

    page.context.set_offline(True)
    assert page.evaluate(QUEUE_CONSENT, [case["id"], case["version"], CONSENT]) == {"queued": True}
    boss = admin.login(supervisor)  # meanwhile the case moves on: away to a colleague and back
    boss.ok("POST", f"/v1/cases/{case['id']}/reassign", {"caseworker": colleague})
    boss.ok("POST", f"/v1/cases/{case['id']}/reassign", {"caseworker": caseworker})
    page.context.set_offline(False)
    synced(page)
    assert server_consent(api, case["id"]) is None  # refused with 412, never applied on the new version

    page.get_by_role("navigation").get_by_role("link", name="Changes waiting").click()
    page.get_by_role("link", name="The case changed: compare and decide").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Your change and the case as it is now")
    expect(page.get_by_role("heading", name="Your change: Consent")).to_be_visible()
    now = page.get_by_role("region", name=f"Case {case['case_number']} now")
    expect(now).to_contain_text(f"by {supervisor}")
    current = api.ok("GET", f"/v1/cases/{case['id']}")["version"]
    expect(now).to_contain_text(str(current))
    assert not axe_check(page), axe_check(page)
    page.get_by_role("button", name="Send my change on the current version").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Case {case['case_number']}")
    consent = server_consent(api, case["id"])
    assert consent and consent["share_with_providers"] is True
    assert not unexpected(page), page.problems


def test_logout_with_changes_waiting_asks_first_and_wipes_the_device(admin, new_user, page, sign_in, axe_check):
    caseworker = new_user("caseworker", supervisor=new_user("supervisor"))
    case = a_case(admin.login(caseworker), "Wipe Test")
    sign_in(page, caseworker)
    open_case_file(page, case)
    page.context.set_offline(True)
    assert page.evaluate(QUEUE_STEPS, [case["id"], case["version"], CONSENT]) == [{"queued": True}] * 3
    assert "casetrail" in page.evaluate(DATABASES)

    page.get_by_role("navigation").get_by_role("link", name="Changes waiting").click()
    rows = page.get_by_role("row", name=re.compile(case["case_number"]))
    expect(rows).to_have_count(3)
    assert not axe_check(page), axe_check(page)
    rows.last.get_by_role("button", name="Discard").click()
    expect(page.get_by_role("alert")).to_have_text("Discard this change? It will never reach the server.")
    page.get_by_role("button", name="No, keep it").click()
    expect(rows).to_have_count(3)
    rows.last.get_by_role("button", name="Discard").click()
    page.get_by_role("button", name="Yes, discard it").click()
    expect(rows).to_have_count(2)
    expect(page.get_by_role("status")).to_contain_text("2 changes waiting.")

    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Log out and delete your changes?")
    expect(page.get_by_role("alert")).to_contain_text("2 changes have not reached the server yet.")
    assert not axe_check(page), axe_check(page)
    page.get_by_role("button", name="Log out and delete them").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in")
    assert "casetrail" not in page.evaluate(DATABASES)
    page.context.set_offline(False)
    assert not unexpected(page), page.problems


def test_the_idle_timeout_warns_then_wipes_the_device(base, new_user, page, sign_in):
    caseworker = new_user("caseworker", supervisor=new_user("supervisor"))
    page.goto(base + "/")
    page.evaluate("() => localStorage.setItem('casetrail.idle_seconds', '8')")
    sign_in(page, caseworker)
    expect(page.get_by_role("heading", level=1)).to_have_text("My cases")
    assert "casetrail" in page.evaluate(DATABASES)
    warning = page.get_by_role("alert").filter(has_text="In one minute you will be signed out")
    expect(warning).to_be_visible(timeout=10000)
    expect(warning).to_contain_text("0 changes not sent yet")
    page.get_by_role("button", name="I'm still here").click()
    expect(warning).to_be_hidden()
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in", timeout=15000)
    assert "casetrail" not in page.evaluate(DATABASES)
    assert not unexpected(page), page.problems


def test_a_queued_change_the_server_refuses_is_kept_and_shown_never_dropped(admin, new_user, page, sign_in):
    caseworker = new_user("caseworker", supervisor=new_user("supervisor"))
    api = admin.login(caseworker)
    case = a_case(api, "Refused Test")
    sign_in(page, caseworker)
    open_case_file(page, case)
    page.context.set_offline(True)
    assessment = """([caseId, version]) => import('/app/commands.js').then((commands) => commands.sendCommand({caseId,
      path: `/v1/cases/${caseId}/assessment`, version, label: 'case.assessment',
      body: {needs: ['legal'], safety_concerns: 'None known'}}))"""
    assert page.evaluate(assessment, [case["id"], case["version"]]) == {"queued": True}
    page.context.set_offline(False)
    synced(page)  # no consent yet: the server refuses the assessment (409)
    assert api.ok("GET", f"/v1/cases/{case['id']}")["assessment"] is None

    page.get_by_role("navigation").get_by_role("link", name="Changes waiting").click()
    row = page.get_by_role("row", name=re.compile(case["case_number"]))
    expect(row).to_contain_text("Assessment")
    expect(row).to_contain_text("Refused: This cannot be done at the case's current stage.")
    expect(page.get_by_role("status")).to_contain_text("1 changes waiting.")
    assert not unexpected(page), page.problems
