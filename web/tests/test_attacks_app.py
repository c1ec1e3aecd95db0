"""The web app attacked as a hostile or careless user would: markup in everything the API returns, a shared
device (a tab closed without logging out, another user after), what a device holds in the clear, a session
ended elsewhere, double submits, the keyboard alone, and screens in French and Arabic."""
import json
import re
import time
import uuid

from conftest import PASSWORD, ROOT
from playwright.sync_api import Page, expect
from test_offline import DATABASES, RAW_RECORDS, open_case_file, sign_in_here, synced, unexpected

# Markup and script in every free text: none of it may become an element, run, or trip the CSP.
MARKUP = '<img src=x onerror="window.__pwned=1"><b>bold</b><script>window.__pwned=2</script>'
INJECTED = ("() => ({pwned: window.__pwned ?? null, violations: window.__violations,"
            " elements: document.querySelectorAll('img, b, script:not([src])').length})")
WATCH_CSP = "window.__violations = []; document.addEventListener('securitypolicyviolation',"\
    " (e) => window.__violations.push(`${e.violatedDirective} ${e.blockedURI}`));"

CONSENT = {"services": True, "share_with_providers": True, "mandatory_reporting_explained": True,
           "given_by": "survivor"}
IDLE_SECONDS = "casetrail.idle_seconds"
WRONG = "The username or password is wrong."
NOT_HERE = "No network: try again when you are back online."  # nobody of that name has a copy on this device


def a_case(api, name: str, **fields) -> dict:
    return api.ok("POST", "/v1/cases", {"survivor": {"name": name, "location": "Camp 9", "phone": "+256 700 123456"},
                                        "risk_level": "high", "intake_notes": "Met at the clinic", **fields})


def wiped(page: Page) -> None:
    """The device's copy is deleted (within a few seconds)."""
    for _ in range(50):
        if "casetrail" not in page.evaluate(DATABASES):
            return
        page.wait_for_timeout(100)
    raise AssertionError("the device's copy is still there")


def a_request(boss, case_id: str) -> dict:
    """The approval request of the case, once the approvals service has it."""
    for _ in range(50):
        found = [item for item in boss.ok("GET", "/v1/approvals")["items"] if item["case_id"] == case_id]
        if found:
            return found[0]
        time.sleep(0.2)
    raise AssertionError("no approval request")


def heading_is(page: Page, text: str, **kw) -> None:
    expect(page.get_by_role("heading", level=1)).to_have_text(text, **kw)


def body_text(page: Page) -> str:
    return page.evaluate("() => document.body.innerText")


# --- 1. Markup and script injection ---------------------------------------------------------------------------

def test_markup_in_everything_the_api_returns_is_shown_as_text(admin, base, new_user, open_page, sign_in):
    supervisor = new_user("supervisor")
    caseworker = new_user("caseworker", supervisor=supervisor, display_name=f"Amal {MARKUP}")
    api, boss = admin.login(caseworker), admin.login(supervisor)
    provider = admin.ok("POST", "/v1/providers", {"name": f"Clinic {MARKUP}", "service_types": ["medical"],
                                                  "area": MARKUP, "contact": MARKUP})
    case = a_case(api, f"Name {MARKUP}", intake_notes=f"Notes {MARKUP}",
                  survivor={"name": f"Name {MARKUP}", "location": MARKUP, "phone": "<b>1</b>"})
    api.ok("POST", f"/v1/cases/{case['id']}/consent", CONSENT)
    api.ok("POST", f"/v1/cases/{case['id']}/assessment", {"needs": ["medical"], "safety_concerns": MARKUP,
           "notes": MARKUP}, headers={"If-Match": f'"{case["version"]}"'})
    version = api.get(f"/v1/cases/{case['id']}").json()["version"]
    api.ok("PUT", f"/v1/cases/{case['id']}/plan", {"goals": [{"need": "medical", "action": f"Goal {MARKUP}",
           "responsible": MARKUP, "due_date": "2030-01-31"}]}, headers={"If-Match": f'"{version}"'})
    version = api.get(f"/v1/cases/{case['id']}").json()["version"]
    api.ok("POST", f"/v1/cases/{case['id']}/plan/submit", headers={"If-Match": f'"{version}"'})
    request = a_request(boss, case["id"])
    boss.ok("POST", f"/v1/approvals/{request['id']}/decision", {"decision": "reject", "comment": f"No {MARKUP}"})
    api.ok("POST", f"/v1/cases/{case['id']}/referrals", {"provider_id": provider["id"], "service_type": "medical",
                                                         "notes": f"Referral {MARKUP}"})

    page = open_page()
    page.add_init_script(WATCH_CSP)
    sign_in(page, caseworker)
    heading_is(page, "My cases")
    expect(page.get_by_text(f"Amal {MARKUP}", exact=False)).to_be_visible()
    open_case_file(page, case)
    expect(page.get_by_text(f"Name {MARKUP}")).to_be_visible()
    expect(page.get_by_text(f"Goal {MARKUP}", exact=False)).to_be_visible()
    expect(page.get_by_text(f"No {MARKUP}", exact=False)).to_be_visible()
    expect(page.get_by_role("cell", name=f"Clinic {MARKUP}")).to_be_visible()
    assert page.evaluate(INJECTED) == {"pwned": None, "elements": 0, "violations": []}

    # The hash is the attacker's too: nothing of it is shown as markup, run, or breaks the app.
    for hash_ in ["#/cases/<script>window.__pwned=3</script>", "#/cases/../../x", "#/cases/%3Cimg%20src=x%3E",
                  f"#/cases/{case['id']}/<b>x</b>", "#/conflicts/" + "a" * 100000, "#/" + "<img src=x>" * 5000,
                  "#/queue?<svg onload=alert(1)>"]:
        page.evaluate("(hash) => { location.hash = hash; }", hash_)
        expect(page.get_by_role("heading", level=1)).to_be_visible()
        assert page.evaluate(INJECTED) == {"pwned": None, "elements": 0, "violations": []}, hash_
    assert not unexpected(page), page.problems

    # The provider reads the referral's notes and declines with markup; the caseworker sees the reason as text.
    provider_user = new_user("provider", provider_id=provider["id"])
    referral = admin.login(provider_user).ok("GET", "/v1/referrals")["items"][0]
    admin.login(provider_user).ok("POST", f"/v1/referrals/{referral['id']}/decline", {"reason": f"Full {MARKUP}"})
    other = open_page()
    other.add_init_script(WATCH_CSP)
    sign_in(other, provider_user)
    other.get_by_role("link", name=case["case_number"]).click()
    expect(other.get_by_text(f"Referral {MARKUP}")).to_be_visible()
    expect(other.get_by_text(f"Full {MARKUP}")).to_be_visible()
    assert other.evaluate(INJECTED) == {"pwned": None, "elements": 0, "violations": []}
    assert not unexpected(other), other.problems


# --- 2. A shared device -----------------------------------------------------------------------------------------

def work_and_close_the_tab(page: Page, base: str, sign_in, username: str, case: dict, idle_seconds: int) -> Page:
    """Signs in, opens the case, and closes the tab without logging out; returns a new tab of the same browser."""
    page.goto(base + "/")
    page.evaluate("([name, seconds]) => localStorage.setItem(name, seconds)", [IDLE_SECONDS, str(idle_seconds)])
    sign_in(page, username)
    open_case_file(page, case)
    synced(page)
    assert "casetrail" in page.evaluate(DATABASES)
    context = page.context
    page.close()
    return context.new_page()


def test_a_device_copy_left_idle_past_the_timeout_in_a_closed_tab_is_wiped_when_the_app_opens(
        admin, base, new_user, page, sign_in):
    caseworker = new_user("caseworker", supervisor=new_user("supervisor"))
    case = a_case(admin.login(caseworker), "Closed Tab")
    page = work_and_close_the_tab(page, base, sign_in, caseworker, case, 4)
    page.wait_for_timeout(6000)  # longer than the idle timeout, with no page running
    page.goto(base + "/")
    heading_is(page, "Sign in")
    wiped(page)
    page.context.set_offline(True)  # nothing left to sign in to offline
    sign_in_here(page, caseworker, PASSWORD)
    expect(page.get_by_role("alert")).to_have_text(NOT_HERE)
    heading_is(page, "Sign in")
    page.context.set_offline(False)


def test_a_tab_closed_and_opened_again_within_the_timeout_keeps_the_copy(admin, base, new_user, page, sign_in):
    caseworker = new_user("caseworker", supervisor=new_user("supervisor"))
    name = f"Kept Copy-{uuid.uuid4().hex[:6]}"
    case = a_case(admin.login(caseworker), name)
    page = work_and_close_the_tab(page, base, sign_in, caseworker, case, 600)
    page.goto(base + "/")
    heading_is(page, "Sign in")
    page.context.set_offline(True)
    sign_in_here(page, caseworker, PASSWORD)
    heading_is(page, "My cases")
    open_case_file(page, case)
    expect(page.get_by_text(name)).to_be_visible()
    page.context.set_offline(False)


OPEN_WITH_ANOTHER_KEY = """([username, password, records]) => Promise.all([import('/app/store.js'),
  import('/app/crypto.js')]).then(async ([store, crypto]) => {
    const meta = await store.getMeta(username);
    const key = await crypto.deriveKey(password, meta.salt);
    const opened = [];
    for (const [name, sealed] of records) {
      try { opened.push(await crypto.open(key, sealed, name)); } catch { /* unreadable, as it must be */ }
    }
    return opened;
  })"""

SEALED_RECORDS = """(prefix) => new Promise((resolve) => {
  const request = indexedDB.open('casetrail');
  request.onsuccess = () => {
    const db = request.result, found = [];
    const transaction = db.transaction(['cases', 'queue'], 'readonly');
    for (const name of ['cases', 'queue']) {
      transaction.objectStore(name).openCursor().onsuccess = (event) => {
        const cursor = event.target.result;
        if (!cursor) return;
        if (String(cursor.key).startsWith(prefix)) found.push([cursor.key, cursor.value]);
        cursor.continue();
      };
    }
    transaction.oncomplete = () => { db.close(); resolve(found); };
  };
})"""

QUEUE_CONSENT = """([caseId, version, body]) => import('/app/commands.js').then((commands) => commands.sendCommand(
  {caseId, path: `/v1/cases/${caseId}/consent`, body, version, label: 'case.consent'}))"""


def test_the_next_user_of_a_device_sees_nothing_of_the_first_online_or_offline(admin, base, new_user, page, sign_in):
    supervisor = new_user("supervisor")
    first = new_user("caseworker", supervisor=supervisor)
    second_password = "another-long-password-here"
    second = new_user("caseworker", supervisor=supervisor, password=second_password)
    never = new_user("caseworker", supervisor=supervisor)
    name = f"First User-{uuid.uuid4().hex[:6]}"
    case = a_case(admin.login(first), name)
    page.goto(base + "/")
    sign_in(page, first)
    open_case_file(page, case)
    synced(page)
    page.context.set_offline(True)  # a change waits in the first user's queue
    assert page.evaluate(QUEUE_CONSENT, [case["id"], case["version"], CONSENT]) == {"queued": True}
    page.context.set_offline(False)
    context = page.context
    page.close()

    page = context.new_page()
    page.problems = []
    sign_in(page, second, second_password)
    heading_is(page, "My cases")
    expect(page.get_by_text("No case matches.")).to_be_visible()
    synced(page)
    assert case["case_number"] not in body_text(page) and name not in body_text(page)
    expect(page.locator("#status")).not_to_contain_text("waiting")
    page.get_by_role("navigation").get_by_role("link", name="Changes waiting").click()
    expect(page.get_by_text("Every change has been sent.")).to_be_visible()
    page.goto(f"{base}/#/cases/{case['id']}")  # the first user's case, by its address: refused, nothing shown
    expect(page.get_by_role("alert")).to_be_visible()
    assert name not in body_text(page)
    records = page.evaluate(SEALED_RECORDS, f"{first}/")
    assert len(records) >= 3, records  # the first user's list, case file and queued change
    assert page.evaluate(OPEN_WITH_ANOTHER_KEY, [second, second_password, records]) == []

    page.context.set_offline(True)
    page.reload()
    heading_is(page, "Sign in")
    for username, password, refusal in [(first, "not-the-password-at-all", WRONG), (first, second_password, WRONG),
                                        (never, PASSWORD, NOT_HERE), ("nobody-ever-here", PASSWORD, NOT_HERE)]:
        sign_in_here(page, username, password)
        expect(page.get_by_role("alert")).to_have_text(refusal)
        heading_is(page, "Sign in")
        assert name not in body_text(page) and case["case_number"] not in body_text(page)
    sign_in_here(page, second, second_password)
    heading_is(page, "My cases")
    expect(page.get_by_text("No case matches.")).to_be_visible()
    assert case["case_number"] not in body_text(page)
    page.get_by_role("navigation").get_by_role("link", name="Changes waiting").click()
    expect(page.get_by_text("Every change has been sent.")).to_be_visible()
    page.context.set_offline(False)


# --- 3. What the device keeps -------------------------------------------------------------------------------

STORAGES = """() => caches.keys().then(async (names) => {
  const cached = [];
  for (const name of names) cached.push(...(await (await caches.open(name)).keys()).map((request) => request.url));
  return {local: JSON.stringify({...localStorage}), session: JSON.stringify({...sessionStorage}), cached};
})"""


def test_the_device_keeps_no_survivor_data_nor_token_in_the_clear(admin, base, new_user, page, sign_in):
    caseworker = new_user("caseworker", supervisor=new_user("supervisor"))
    api = admin.login(caseworker)
    name = f"Plain Text-{uuid.uuid4().hex[:6]}"
    case = a_case(api, name, intake_notes="Hides at her sister's house")
    api.ok("POST", f"/v1/cases/{case['id']}/consent", CONSENT)
    tokens = []
    page.on("response", lambda response: tokens.append(response.json()) if response.url.endswith("/v1/auth/token")
            and response.ok else None)
    sign_in(page, caseworker)
    page.wait_for_function("() => navigator.serviceWorker.controller !== null")
    open_case_file(page, case)
    synced(page)
    page.get_by_role("navigation").get_by_role("link", name="My cases").click()
    synced(page)
    assert tokens, "the sign-in's answer was seen"
    secrets = [name, "Camp 9", "700 123456", "Hides at her sister", case["case_number"],
               tokens[0]["access_token"], tokens[0]["refresh_token"]]
    records = page.evaluate(RAW_RECORDS)
    assert any(case["id"] in record for record in records), records  # the case file is kept, sealed
    kept = page.evaluate(STORAGES)
    everything = "\n".join(records) + kept["local"] + kept["session"] + "\n".join(kept["cached"])
    assert [secret for secret in secrets if secret in everything] == []
    assert kept["cached"] and not [url for url in kept["cached"] if "/v1/" in url], kept["cached"]


# --- 4. A session that ended ------------------------------------------------------------------------------------

def test_a_session_ended_elsewhere_returns_to_sign_in_wiped_and_back_shows_nothing(admin, new_user, page, sign_in):
    caseworker = new_user("caseworker", supervisor=new_user("supervisor"))
    name = f"Ended Session-{uuid.uuid4().hex[:6]}"
    case = a_case(admin.login(caseworker), name)
    sign_in(page, caseworker)
    open_case_file(page, case)
    synced(page)
    # The caseworker, fearing the device was taken, changes the password elsewhere: every other session ends.
    admin.login(caseworker).ok("POST", "/v1/users/me/password", {"current_password": PASSWORD,
                                                                 "new_password": "a-brand-new-password-2"})
    page.get_by_role("navigation").get_by_role("link", name="My cases").click()
    heading_is(page, "Sign in")
    wiped(page)
    page.go_back()
    page.go_back()
    heading_is(page, "Sign in")
    assert name not in body_text(page) and case["case_number"] not in body_text(page)

    sign_in_here(page, caseworker, "a-brand-new-password-2")
    open_case_file(page, case)
    page.get_by_role("button", name="Log out").click()
    heading_is(page, "Sign in")
    page.go_back()
    heading_is(page, "Sign in")
    assert name not in body_text(page)
    assert not [problem for problem in unexpected(page) if "status of 401" not in problem], page.problems


# --- 5. Double submit -------------------------------------------------------------------------------------------

def events(api, case_id: str) -> list[str]:
    history = api.ok("GET", f"/v1/cases/{case_id}/history")["items"]
    return [item["type"] for item in history if item["type"] != "CaseViewed"]


def test_a_double_click_on_each_main_step_records_it_once(admin, base, new_user, page, sign_in):
    caseworker = new_user("caseworker", supervisor=new_user("supervisor"))
    api = admin.login(caseworker)
    sign_in(page, caseworker)
    heading_is(page, "My cases")
    page.get_by_role("link", name="Register a case").first.click()
    name = f"Double Click-{uuid.uuid4().hex[:6]}"
    page.get_by_label("Name", exact=True).fill(name)
    page.get_by_label("Risk level").select_option("high")
    page.get_by_role("button", name="Register the case").dblclick()
    expect(page.get_by_role("heading", level=1)).to_have_text(A_CASE)
    mine = api.ok("GET", "/v1/cases")["items"]
    assert len(mine) == 1, mine
    case_id = mine[0]["id"]

    def step(link: str, fill, submit: str) -> None:
        before = events(api, case_id)
        page.get_by_role("link", name=link, exact=True).click()
        fill()
        page.get_by_role("button", name=submit).dblclick()
        expect(page.get_by_role("heading", level=1)).to_have_text(A_CASE)
        added = events(api, case_id)[len(before):]
        assert len(added) == 1, (link, added)

    def consent():
        for label in ["Consents to services", "Consents to sharing with providers",
                      "Mandatory reporting was explained"]:
            page.get_by_label(label).check()

    def assessment():
        page.get_by_label("Medical").check()
        page.get_by_label("Safety concerns").fill("Threatened by a neighbour")

    def plan():
        page.get_by_label("Need").first.select_option("medical")
        page.get_by_label("Action").first.fill("Clinic visit")
        page.get_by_label("Responsible").first.fill("Caseworker")
        page.get_by_label("Due date").first.fill("2030-01-31")

    step("Record consent", consent, "Save the consent")
    step("Record the assessment", assessment, "Save the assessment")
    step("Draft the case plan", plan, "Save the plan")
    assert not unexpected(page), page.problems


# --- 6. The keyboard alone ----------------------------------------------------------------------------------

FOCUSED = """() => { const e = document.activeElement; const style = getComputedStyle(e);
  return {tag: e.tagName, type: e.type, text: (e.labels?.[0]?.textContent || e.textContent || '').trim().slice(0, 80),
          id: e.id, outline: style.outlineStyle, width: parseFloat(style.outlineWidth)}; }"""


def tab_to(page: Page, text: str, most: int = 80) -> dict:
    """Tab (and only Tab) until the focused element is named `text`; each element reached shows its focus."""
    for _ in range(most):
        page.keyboard.press("Tab")
        focused = page.evaluate(FOCUSED)
        # The focus is visible: the app's ring; a date field highlights the part in focus itself.
        assert focused["type"] == "date" or (focused["outline"] != "none" and focused["width"] >= 2), focused
        if focused["text"] == text:
            return focused
    raise AssertionError(f"{text!r} is not reachable with Tab")


A_CASE = re.compile(r"^Case (?!file$)")  # a case file's heading, once loaded ("Case file" while loading)


def focus_on_arrival(page: Page, h1: str, first_field: str | None = None) -> None:
    """The screen's h1 (or a form's first field) has the focus once the screen is drawn (polled: the screen
    may still be loading its data when its heading shows)."""
    expect(page.get_by_role("heading", level=1)).to_have_text(A_CASE if h1 == "Case *" else h1)
    target = page.locator("#page-title") if first_field is None else page.get_by_label(first_field, exact=True)
    expect(target).to_be_focused()


def test_a_caseworker_registers_a_case_and_records_consent_with_the_keyboard_alone(admin, new_user, page, sign_in):
    caseworker = new_user("caseworker", supervisor=new_user("supervisor"))
    api = admin.login(caseworker)
    sign_in(page, caseworker)
    focus_on_arrival(page, "My cases")
    tab_to(page, "Register a case")
    page.keyboard.press("Enter")
    focus_on_arrival(page, "Register a case", first_field="Name")
    name = f"Keyboard Only-{uuid.uuid4().hex[:6]}"
    page.keyboard.type(name)
    tab_to(page, "Risk level")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")  # choose..., low, medium, high
    tab_to(page, "Register the case")
    page.keyboard.press("Enter")
    focus_on_arrival(page, "Case *")
    case = api.ok("GET", "/v1/cases")["items"][0]
    assert case["risk_level"] == "high"

    tab_to(page, "Record consent")
    page.keyboard.press("Enter")
    focus_on_arrival(page, "Record consent", first_field="Consents to services")
    page.keyboard.press("Space")
    for label in ["Consents to sharing with providers", "Mandatory reporting was explained"]:
        tab_to(page, label)
        page.keyboard.press("Space")
    tab_to(page, "Save the consent")
    page.keyboard.press("Enter")
    focus_on_arrival(page, "Case *")
    consent = api.ok("GET", f"/v1/cases/{case['id']}")["consent"]
    assert consent["services"] and consent["share_with_providers"] and consent["mandatory_reporting_explained"]
    assert not unexpected(page), page.problems


# --- 7. Languages ----------------------------------------------------------------------------------------------

CATALOGUES = {code: json.loads((ROOT / "web" / "app" / "i18n" / f"{code}.json").read_text(encoding="utf-8"))
              for code in ("en", "fr", "ar")}
RAW_KEY = re.compile(r"^[a-z_]+\.[a-z_.]+$")
TEXTS = """() => { const texts = []; const walk = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walk.nextNode()) { const text = walk.currentNode.textContent.trim(); if (text) texts.push(text); }
  for (const e of document.querySelectorAll('[aria-label], [title], input[placeholder]'))
    texts.push(e.getAttribute('aria-label') || e.getAttribute('title') || e.getAttribute('placeholder'));
  texts.push(document.title); return texts; }"""


def untranslated(page: Page, code: str) -> list[str]:
    """Texts on the screen that are a raw catalogue key, or an English message the language words otherwise."""
    english = {text for key, text in CATALOGUES["en"].items() if "{" not in text and text != CATALOGUES[code][key]
               and len(text) > 3}
    return [text for text in page.evaluate(TEXTS) if RAW_KEY.match(text) or text in english]


def test_the_main_screens_in_french_and_arabic_show_no_key_and_no_english(admin, base, new_user, open_page):
    caseworker = new_user("caseworker", supervisor=new_user("supervisor"))
    api = admin.login(caseworker)
    case = a_case(api, "Langue Test")
    api.ok("POST", f"/v1/cases/{case['id']}/consent", CONSENT)
    for code, locale in [("fr", "fr-FR"), ("ar", "ar-EG")]:
        page = open_page(locale)
        page.goto(base + "/")
        expect(page.locator("html")).to_have_attribute("lang", code)
        expect(page.locator("html")).to_have_attribute("dir", "rtl" if code == "ar" else "ltr")
        heading_is(page, CATALOGUES[code]["login.title"])
        assert untranslated(page, code) == []
        sign_in_here_in(page, code, caseworker)
        heading_is(page, CATALOGUES[code]["cases.title"])
        expect(page.get_by_role("link", name=case["case_number"])).to_be_visible()
        assert untranslated(page, code) == []
        for hash_, title in [(f"#/cases/{case['id']}", CATALOGUES[code]["case.heading"].replace(
                "{number}", case["case_number"])), ("#/cases/new", CATALOGUES[code]["register.title"]),
                (f"#/cases/{case['id']}/assessment", CATALOGUES[code]["step.assessment"]),
                (f"#/cases/{case['id']}/referral", CATALOGUES[code]["step.referral"]),
                ("#/notifications", CATALOGUES[code]["notifications.title"]),
                ("#/queue", CATALOGUES[code]["queue.title"])]:
            page.evaluate("(hash) => { location.hash = hash; }", hash_)
            heading_is(page, title)
            page.wait_for_load_state("networkidle")
            assert untranslated(page, code) == [], hash_
            assert page.evaluate("() => document.documentElement.dir") == ("rtl" if code == "ar" else "ltr")
        assert not unexpected(page), page.problems


def sign_in_here_in(page: Page, code: str, username: str) -> None:
    page.get_by_label(CATALOGUES[code]["login.username"], exact=True).fill(username)
    page.get_by_label(CATALOGUES[code]["login.password"], exact=True).fill(PASSWORD)
    page.get_by_role("button", name=CATALOGUES[code]["login.submit"]).click()


# --- 8. Found by the attacks, fixed after: guessing offline, two tabs, the service worker -----------------------

def test_five_wrong_passwords_at_offline_sign_in_wipe_the_device(admin, base, new_user, page, sign_in):
    """Offline, nothing slows a guesser but the key derivation: after five wrong passwords in a row the copy
    is gone, and the right password finds nothing to open."""
    caseworker = new_user("caseworker", supervisor=new_user("supervisor"))
    case = a_case(admin.login(caseworker), f"Guess Me-{uuid.uuid4().hex[:6]}")
    page = work_and_close_the_tab(page, base, sign_in, caseworker, case, 600)
    page.goto(base + "/")
    heading_is(page, "Sign in")
    page.context.set_offline(True)
    for attempt in range(1, 6):
        sign_in_here(page, caseworker, f"wrong-password-{attempt}")
        expect(page.get_by_role("alert")).to_have_text(WRONG)
        if attempt < 5:
            assert "casetrail" in page.evaluate(DATABASES), attempt
    wiped(page)
    sign_in_here(page, caseworker, PASSWORD)
    expect(page.get_by_role("alert")).to_have_text(NOT_HERE)
    page.context.set_offline(False)


def test_one_idle_tab_signs_out_without_wiping_the_copy_another_tab_works_in(admin, base, new_user, page, sign_in):
    caseworker = new_user("caseworker", supervisor=new_user("supervisor"))
    name = f"Two Tabs-{uuid.uuid4().hex[:6]}"
    case = a_case(admin.login(caseworker), name)
    page.goto(base + "/")
    page.evaluate("([name, seconds]) => localStorage.setItem(name, seconds)", [IDLE_SECONDS, "8"])
    sign_in(page, caseworker)
    heading_is(page, "My cases")
    working = page.context.new_page()
    sign_in(working, caseworker)
    heading_is(working, "My cases")
    for _ in range(12):  # the second tab is used throughout; the first is left alone
        working.keyboard.press("Shift")
        working.wait_for_timeout(1000)
    heading_is(page, "Sign in")  # the idle tab signed out
    heading_is(working, "My cases")
    assert "casetrail" in working.evaluate(DATABASES)
    open_case_file(working, case)
    expect(working.get_by_text(name)).to_be_visible()
    working.wait_for_timeout(9000)  # now both are idle: the last one to time out wipes the device
    heading_is(working, "Sign in")
    wiped(working)


def test_the_service_worker_answers_only_page_loads_of_the_app_with_the_app(base, page):
    page.goto(base + "/")
    page.evaluate("() => navigator.serviceWorker.ready.then(() => true)")
    page.reload()
    assert page.evaluate("() => navigator.serviceWorker.controller !== null")  # the worker answers this page
    for address in ("/v1/openapi.json", "/app/icon.svg"):
        page.goto(base + address)
        assert page.evaluate("() => document.getElementById('main') === null"), address
    page.goto(base + "/v1/openapi.json")
    assert '"openapi"' in page.content()
