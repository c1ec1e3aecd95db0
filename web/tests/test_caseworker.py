"""A caseworker in the browser: signs in, switches to Arabic (right to left), registers a case, finds it in
the list and opens its file; nothing is refused by the Content-Security-Policy or fails in the page."""
import re

from playwright.sync_api import expect


def test_a_caseworker_signs_in_switches_to_arabic_registers_a_case_and_finds_it(new_user, page, sign_in):
    supervisor = new_user("supervisor")
    caseworker = new_user("caseworker", supervisor=supervisor)
    sign_in(page, caseworker)
    expect(page.get_by_role("heading", level=1)).to_have_text("My cases")
    expect(page.get_by_text("No case matches.")).to_be_visible()

    page.get_by_label("Language").select_option("ar")
    expect(page.locator("html")).to_have_attribute("dir", "rtl")
    expect(page.locator("html")).to_have_attribute("lang", "ar")
    expect(page.get_by_role("heading", level=1)).to_have_text("حالاتي")

    page.get_by_role("link", name="تسجيل حالة").first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("تسجيل حالة")
    page.get_by_label("الاسم", exact=True).fill("Amina Test")
    page.get_by_label("مستوى الخطر", exact=True).select_option("high")
    page.get_by_label("الموقع", exact=True).press("Enter")  # the keyboard submits the form
    heading = page.get_by_role("heading", level=1)
    expect(heading).to_have_text(re.compile(r"^الحالة GBV-\d{4}-\d{6}$"))
    case_number = heading.inner_text().split(" ")[1]
    case_id = page.url.rsplit("/", 1)[1]
    assert re.fullmatch(r"[0-9a-f-]{36}", case_id)
    expect(page.get_by_text("Amina Test")).to_be_visible()
    expect(page.locator("section").first).to_contain_text("مرتفع")

    page.get_by_role("navigation").get_by_role("link", name="حالاتي").click()
    listed = page.get_by_role("link", name=case_number)
    expect(listed).to_be_visible()
    expect(page.get_by_role("row", name=re.compile(case_number))).to_contain_text("مرتفع")
    listed.click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"الحالة {case_number}")

    page.get_by_role("button", name="تسجيل الخروج").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("تسجيل الدخول")
    assert not page.problems, page.problems
