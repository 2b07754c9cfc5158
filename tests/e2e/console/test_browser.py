"""The console in a real Chromium (Debian's chromium, driven by Playwright with
executable_path): sign in, read a GL day against the API, resolve a discrepancy, open an
order's trail; a finance:read key sees no resolve button; a forged post is refused. Each page
is screenshot at 1280 px and at a phone's width (CONSOLE_SCREENSHOTS=DIR keeps them)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from ledger.http.keys import POOL
from tests.harness import order_body

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="needs Debian's chromium (.ci/run installs it with apt-get install chromium)",
)
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}


@pytest.fixture
async def browser():
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            yield launched
        finally:
            await launched.close()


async def shoot(page, name: str, tmp_path: Path) -> None:
    """A screenshot at desktop and phone width: every page must render at both."""
    # Every control has a label a screen reader announces.
    unlabelled = await page.evaluate(
        """[...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
           .filter(e => e.labels.length === 0 && !e.getAttribute('aria-label'))
           .map(e => e.name)"""
    )
    assert unlabelled == [], f"{name}: controls without a label: {unlabelled}"
    keep = os.environ.get("CONSOLE_SCREENSHOTS")
    for label, size in (("", DESKTOP), ("-phone", PHONE)):
        await page.set_viewport_size(size)
        target = Path(keep or tmp_path) / f"{name}{label}.png"
        await page.screenshot(path=str(target), full_page=True)
        assert target.stat().st_size > 5000, f"{target} is blank"
        # Nothing wider than the viewport but the tables, which scroll in their own box.
        overflow = await page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 1, f"{name} at {size['width']} px overflows by {overflow} px"
    await page.set_viewport_size(DESKTOP)


async def sign_in(page, base: str, key: str, tmp_path: Path | None = None) -> None:
    await page.goto(f"{base}/console/sign-in")
    if tmp_path is not None:
        await shoot(page, "sign-in", tmp_path)
    await page.get_by_label("API key").fill(key)
    await page.keyboard.press("Enter")  # the form works from the keyboard alone
    await page.wait_for_url(f"{base}/console/today")


async def test_finance_reads_a_gl_day_that_matches_the_api_and_an_orders_trail(
    console, browser, tmp_path
):
    placed = await console.client.post(
        "/api/v1/orders", json=order_body("console-trail-1"), headers=console.headers
    )
    assert placed.status == 201
    finance = await console.key("finance:read")
    expected = await console.gl_days(finance)
    page = await browser.new_page(viewport=DESKTOP)
    await sign_in(page, console.base, finance, tmp_path)
    await shoot(page, "today", tmp_path)
    await page.get_by_role("link", name="General ledger").click()
    await page.wait_for_url("**/console/gl")
    shown = {}
    for row in await page.locator("#gl-daily tbody tr[data-state]").all():
        count = int(await row.locator("td").nth(3).inner_text())
        if count:
            key = tuple(
                [await row.get_attribute(a) for a in ("data-date", "data-currency", "data-state")]
            )
            shown[key] = await row.locator("td.amount").inner_text()
    assert shown == expected
    assert await page.locator("svg.chart rect").count() >= 1
    await shoot(page, "gl", tmp_path)
    await page.locator("#gl-daily tbody a").first.click()
    await page.wait_for_url("**/console/gl/journal?date=*")
    assert await page.locator("#balance tbody td").nth(3).inner_text() == "yes"
    await shoot(page, "journal", tmp_path)
    await page.get_by_role("link", name="Orders").click()
    await page.get_by_label("Idempotency key").fill("console-trail-1")
    await page.get_by_role("button", name="Search").click()
    await page.wait_for_url("**/console/orders/console-trail-1")
    trail = await page.locator("table.trail").inner_text()
    for event in ("OrderRequested", "VendorRequestSent", "VendorResponseReceived"):
        assert event in trail
    await shoot(page, "order", tmp_path)
    await page.get_by_role("link", name="Orders").click()
    await shoot(page, "orders", tmp_path)


async def test_an_admin_resolves_a_discrepancy_and_a_finance_reader_cannot(
    console, browser, tmp_path
):
    discrepancy = await console.open_discrepancy()
    reader = await browser.new_page(viewport=DESKTOP)
    await sign_in(reader, console.base, await console.key("finance:read"))
    await reader.goto(f"{console.base}/console/discrepancies/{discrepancy}")
    assert await reader.locator("#state").inner_text() == "open"
    assert await reader.get_by_role("button", name="Resolve").count() == 0
    # A forged post (no CSRF token) with the reader's own session cookie: refused, not applied.
    forged = await reader.context.request.post(
        f"{console.base}/console/discrepancies/{discrepancy}/resolve",
        form={"action": "acknowledge", "note": "forged"},
    )
    assert forged.status == 403
    # With its own session's token the reader's post is well-formed, and its scope refuses it.
    token = await reader.locator('input[name="csrf_token"]').first.get_attribute("value")
    tokened = await reader.context.request.post(
        f"{console.base}/console/discrepancies/{discrepancy}/resolve",
        form={"csrf_token": token, "action": "acknowledge", "note": "not an admin"},
    )
    assert tokened.status == 403 and "admin" in await tokened.text()

    admin = await browser.new_page(viewport=DESKTOP)
    await sign_in(admin, console.base, await console.key("admin", client_id="ops"))
    forged = await admin.context.request.post(
        f"{console.base}/console/discrepancies/{discrepancy}/resolve",
        form={"action": "acknowledge", "note": "forged by another site"},
    )
    assert forged.status == 403 and "security token" in await forged.text()
    await admin.get_by_role("link", name="Discrepancies").click()
    await shoot(admin, "discrepancies", tmp_path)
    await admin.get_by_role("link", name=discrepancy).click()
    await shoot(admin, "discrepancy", tmp_path)
    await admin.get_by_label("Acknowledge").check()
    await admin.get_by_label("Note").fill("vendor lost it; reissued by support")
    await admin.get_by_role("button", name="Resolve").click()
    await admin.wait_for_url("**/console/discrepancies?resolved=*")
    assert await admin.get_by_role("status").inner_text() == f"{discrepancy} is resolved."
    assert await admin.locator(f'#discrepancies tr[data-id="{discrepancy}"]').count() == 0
    notes = await console.client.app[POOL].fetch(
        "SELECT convert_from(data, 'UTF8')::jsonb ->> 'note' AS note FROM events"
        " WHERE type = 'DiscrepancyResolved'"
    )
    assert [r["note"] for r in notes] == ["vendor lost it; reissued by support"]
    await admin.get_by_role("link", name="Reconciliation runs").click()
    await shoot(admin, "runs", tmp_path)
    await admin.get_by_role("link", name="Bulk batches").click()
    await shoot(admin, "batches", tmp_path)
