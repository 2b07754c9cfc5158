"""What a hostile or clumsy request gets from the console: a 4xx page naming what was wrong,
never a 500, and nothing written to the log that the projections could not read back."""

from __future__ import annotations

import base64
import json

from ledger.http.keys import POOL


async def _resolutions(console) -> int:
    return await console.client.app[POOL].fetchval(
        "SELECT count(*) FROM events WHERE type IN ('DiscrepancyResolved', 'OrderFailed')"
    )


async def test_a_note_holding_a_control_character_is_refused_everywhere_and_nothing_is_recorded(
    console,
):
    discrepancy = await console.open_discrepancy()
    admin = await console.key("admin", client_id="ops")
    before = await _resolutions(console)
    resolve = f"/api/v1/discrepancies/{discrepancy}/resolve"
    auth = {"Authorization": f"Bearer {admin}"}
    # The API refuses a body holding NUL before decoding it, and any other control character
    # in the note once decoded.
    nul = await console.client.post(
        resolve, json={"action": "acknowledge", "note": "ok\u0000x"}, headers=auth
    )
    assert nul.status == 400 and "NUL" in (await nul.json())["detail"]
    bell = await console.client.post(
        resolve, json={"action": "acknowledge", "note": "ok\u0007x"}, headers=auth
    )
    problem = await bell.json()
    assert bell.status == 422 and problem["field"] == "note", problem
    csrf = await console.sign_in(admin)
    page = await console.client.post(
        f"/console/discrepancies/{discrepancy}/resolve",
        data={"csrf_token": csrf, "action": "acknowledge", "note": "ok\x00x"},
    )
    assert page.status == 422 and "note" in await page.text()
    assert await _resolutions(console) == before
    # The same decision with a clean note still goes through: nothing was left half-done.
    resolved = await console.client.post(
        f"/console/discrepancies/{discrepancy}/resolve",
        data={"csrf_token": csrf, "action": "acknowledge", "note": "checked with the vendor"},
        allow_redirects=False,
    )
    assert resolved.status == 303
    assert await _resolutions(console) == before + 1


async def test_the_queues_any_state_and_any_type_filters_list_the_queue(console):
    await console.sign_in(await console.key("finance:read"))
    for query in ("state=&type=", "state=open&type=", "state=&type=missing_at_vendor"):
        answer = await console.client.get(f"/console/discrepancies?{query}")
        assert answer.status == 200, (query, await answer.text())


async def test_dates_past_the_calendars_ends_and_a_crafted_cursor_get_a_400_naming_them(console):
    finance = await console.key("finance:read")
    await console.sign_in(finance)
    nul_cursor = base64.urlsafe_b64encode(
        json.dumps(["2026-01-01T00:00:00Z", "\u0000"]).encode()
    ).decode()
    for url, field in (
        ("/console/orders?to=9999-12-31", "to"),
        ("/console/gl?to=0001-01-01", "to"),
        (f"/console/orders?after={nul_cursor}", "after"),
        (f"/console/discrepancies?after={nul_cursor}", "after"),
    ):
        answer = await console.client.get(url)
        assert answer.status == 400, (url, answer.status)
        assert answer.content_type == "text/html" and field in await answer.text()
    api = await console.client.get(
        "/api/v1/gl/daily?to=0001-01-01", headers={"Authorization": f"Bearer {finance}"}
    )
    assert api.status == 400 and (await api.json())["field"] == "to"


async def test_a_form_that_is_not_text_in_its_charset_is_refused_with_a_page(console):
    for content_type in (
        "application/x-www-form-urlencoded",
        "application/x-www-form-urlencoded; charset=no-such-charset",
    ):
        answer = await console.client.post(
            "/console/sign-in", data=b"csrf_token=\xff", headers={"Content-Type": content_type}
        )
        assert answer.status == 400, (content_type, answer.status)
        assert "UTF-8" in await answer.text()
    signed_in_with_nul = await console.client.post(
        "/console/sign-in", data={"csrf_token": "x", "api_key": "gcl_\x00"}
    )
    assert signed_in_with_nul.status in (403, 422)


async def test_redirects_downloads_and_errors_under_console_carry_the_page_headers(console):
    await console.sign_in(await console.key("finance:read"))
    answers = [
        await console.client.get("/", allow_redirects=False),
        await console.client.get("/console/gl/daily.csv"),
        await console.client.get("/console/no-such-page"),
    ]
    assert [a.status for a in answers] == [303, 200, 404]
    for answer in answers:
        assert answer.headers["X-Frame-Options"] == "DENY"
        assert "frame-ancestors 'none'" in answer.headers["Content-Security-Policy"]
        assert answer.headers["Cache-Control"] == "no-store"
    stylesheet = await console.client.get("/console/static/console.css")
    assert stylesheet.status == 200 and "Content-Security-Policy" not in stylesheet.headers
    api = await console.client.get("/healthz")
    assert "Content-Security-Policy" not in api.headers


async def test_the_gl_forms_empty_boxes_mean_not_given_as_they_do_on_every_other_page(console):
    """The currency box is empty by default: pressing Show sent currency= and got a 400."""
    await console.sign_in(await console.key("finance:read"))
    for url in (
        "/console/gl?from=2026-11-01&to=2026-11-30&currency=",
        "/console/gl/daily.csv?from=&to=&currency=",
        "/console/gl/journal?date=2026-11-02&currency=",
    ):
        answer = await console.client.get(url)
        assert answer.status == 200, (url, answer.status, await answer.text())


async def test_a_cursor_naming_a_moment_with_no_utc_equivalent_is_a_400_not_a_503(console):
    await console.sign_in(await console.key("finance:read"))
    cursor = base64.urlsafe_b64encode(
        json.dumps(["0001-01-01T00:00:00+01:00", "x"]).encode()
    ).decode()
    for page in ("/console/orders", "/console/discrepancies"):
        answer = await console.client.get(f"{page}?after={cursor}")
        assert answer.status == 400, (page, answer.status)
        assert "after" in await answer.text()


async def test_a_multipart_form_without_a_boundary_is_refused_with_a_page(console):
    answer = await console.client.post(
        "/console/sign-in", data=b"x", headers={"Content-Type": "multipart/form-data"}
    )
    assert answer.status == 400, answer.status
    assert answer.content_type == "text/html"


async def test_a_token_holding_a_lone_surrogate_is_refused_not_a_500(console):
    """A form in a charset that decodes to lone surrogates (or a cookie's undecodable bytes,
    which aiohttp reads as them) cannot be encoded to compare."""
    form = await console.client.get("/console/sign-in")
    assert form.status == 200
    answer = await console.client.post(
        "/console/sign-in",
        data=b"csrf_token=\\ud800&api_key=gcl_x",
        headers={"Content-Type": "application/x-www-form-urlencoded; charset=unicode_escape"},
    )
    assert answer.status in (400, 403), answer.status
