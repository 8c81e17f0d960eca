"""The risk-desk console in headless chromium against a running server: what an admin and a trader see, the
actions from the page, and live updates without a reload."""

import re
from datetime import UTC, datetime, timedelta

from console_page import PageErrors, log_in, screenshot
from playwright.sync_api import Page, Route, expect
from server import (
    ADMIN,
    ADMIN_PASSWORD,
    DEMO,
    DEMO_PASSWORD,
    FRONT,
    Desk,
    ServerProcess,
    evaluation_account,
    limit,
    order,
)

# What chromium logs while the server is down and the page tries again: refused socket connections.
REFUSED = ("WebSocket connection to", "net::ERR_CONNECTION_REFUSED")
RECONNECTED_MS = 30_000  # the page's backoff reaches 8 s (+25 % jitter) between attempts; the start may be slow


def row(page: Page, name: str):  # type: ignore[no-untyped-def]
    return page.locator(f'.grid-row[data-name="{name}"]:not([hidden])')


def open_position(desk: Desk) -> None:
    """DEMO1: long 1 ESZ6 at 6800.25 and a working buy limit below the market."""
    desk.quote(bid=6800.0, ask=6800.25)
    assert desk.place(order(desk.demo1)).get("orderId")
    assert desk.place(limit(desk.demo1, 6790.0)).get("orderId")


def confirm(page: Page) -> None:
    expect(page.locator("#confirm")).to_be_visible()
    page.click("#confirm-ok")


def test_console_answers_with_security_headers_when_opened(desk: Desk) -> None:
    response = desk.api.http.get("/")
    assert response.status_code == 200
    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "connect-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert "unsafe-inline" not in policy
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert desk.api.http.get("/console/main.js").headers["content-type"].startswith("text/javascript")
    assert desk.api.http.get("/console/..%2Fconsole.py").status_code == 404


def test_admin_sees_every_account_of_the_organization(page: Page, desk: Desk) -> None:
    open_position(desk)
    log_in(page, ADMIN, ADMIN_PASSWORD)
    for name in ("DEMO1", "DEMO2", "TEMPLATE"):
        expect(row(page, name)).to_be_visible()
    expect(row(page, "DEMO1").locator('[data-col="positions"]')).to_have_text(f"{FRONT} +1")
    expect(page.locator("#nav-simulator")).to_be_visible()
    screenshot(page, "accounts")
    page.fill("#search", "demo2")
    expect(row(page, "DEMO1")).to_have_count(0)
    expect(row(page, "DEMO2")).to_be_visible()


def test_trader_sees_only_their_own_accounts(page: Page, desk: Desk) -> None:
    log_in(page, DEMO, DEMO_PASSWORD)
    expect(row(page, "DEMO1")).to_be_visible()
    expect(row(page, "DEMO2")).to_be_visible()
    expect(page.locator("#count")).to_have_text("2 of 2 accounts")
    expect(row(page, "TEMPLATE")).to_have_count(0)
    expect(page.locator("#nav-simulator")).to_be_hidden()
    page.goto(f"/#/account/{desk.template}")
    expect(page.locator("#account-view")).to_contain_text("No account")


def test_liquidating_a_position_from_the_page_goes_flat_and_cancels_its_orders_live(page: Page, desk: Desk) -> None:
    open_position(desk)
    log_in(page, ADMIN, ADMIN_PASSWORD)
    row(page, "DEMO1").click()
    expect(page.locator("#account-name")).to_have_text("DEMO1")
    expect(page.locator(".position-row .net-pos")).to_have_text("1")
    expect(page.locator(".order-row")).to_have_count(1)
    desk.quote(bid=6805.0, ask=6805.25)
    expect(page.locator("#account-openpnl")).to_have_text("243.75")  # (6805.125 - 6800.25) x 50, live from quotes
    assert desk.snapshot(desk.demo1)["openPnL"] == 243.75  # the server's own figure agrees
    screenshot(page, "account")
    page.click(".liquidate-position")
    expect(page.locator("#confirm-text")).to_contain_text("close its position of 1")
    confirm(page)
    expect(page.locator("#account-result")).to_contain_text("Closing order")
    expect(page.locator(".position-row")).to_have_count(0)
    expect(page.locator(".order-row")).to_have_count(0)
    expect(page.locator(".history-row").first).to_contain_text("Liquidation")
    assert desk.position(desk.demo1)["netPos"] == 0


def test_lock_and_unlock_from_the_account_page(page: Page, desk: Desk) -> None:
    log_in(page, ADMIN, ADMIN_PASSWORD)
    page.goto(f"/#/account/{desk.demo2}")
    page.click("#lock-account")
    confirm(page)
    expect(page.locator("#account-status")).to_have_text("locked: Risk desk console")
    refused = desk.place(order(desk.demo2))
    assert refused.get("failureReason") == "TradingLocked", refused
    page.click("#unlock-account")
    confirm(page)
    expect(page.locator("#account-status")).to_have_text("normal")


def test_bulk_lock_of_a_filtered_selection_shows_progress(page: Page, desk: Desk) -> None:
    log_in(page, ADMIN, ADMIN_PASSWORD)
    page.fill("#search", "demo")
    expect(page.locator("#count")).to_have_text("2 of 3 accounts")
    page.check("#select-all")
    page.click('[data-bulk="lock"]')
    confirm(page)
    expect(page.locator("#bulk-text")).to_have_text("Lock: 2 of 2 done")
    expect(row(page, "DEMO1").locator('[data-col="status"]')).to_have_text("locked: Risk desk console")
    expect(row(page, "DEMO2").locator('[data-col="status"]')).to_have_text("locked: Risk desk console")
    page.fill("#search", "")
    expect(row(page, "TEMPLATE").locator('[data-col="status"]')).to_have_text("normal")


def test_auto_liquidation_appears_without_reload(page: Page, desk: Desk) -> None:
    rules = {"accountId": desk.demo1, "dailyLossAutoLiq": 200}
    desk.api.call("userAccountAutoLiq/updateuserautoliq", rules, desk.admin)
    open_position(desk)
    log_in(page, ADMIN, ADMIN_PASSWORD)
    expect(row(page, "DEMO1").locator('[data-col="status"]')).to_have_text("normal")
    desk.quote(bid=6790.0, ask=6790.25)  # about -500: past the daily loss rule
    status = row(page, "DEMO1").locator('[data-col="status"]')
    expect(status).to_contain_text("auto-liquidated")
    expect(row(page, "DEMO1").locator('[data-col="positions"]')).to_have_text("")
    page.select_option("#status-filter", "auto-liquidated")
    expect(page.locator("#count")).to_have_text("1 of 3 accounts")
    screenshot(page, "auto-liquidated")


def test_simulator_page_sets_a_quote(page: Page, desk: Desk) -> None:
    log_in(page, ADMIN, ADMIN_PASSWORD)
    page.click("#nav-simulator")
    page.fill("#sim-symbol", FRONT)
    page.fill("#sim-bid", "6810")
    page.fill("#sim-ask", "6810.25")
    page.click('#sim-quote button[type="submit"]')
    expect(page.locator("#sim-output")).to_contain_text("6810")
    screenshot(page, "simulator")
    assert desk.api.get("/sim/quote", desk.admin, symbol=FRONT).json()["bid"] == 6810.0


def expiring_soon(route: Route) -> None:
    """The login's answer as if its token expired in 5 minutes (the server's token lives 90)."""
    response = route.fetch()
    body = response.json()
    body["expirationTime"] = (datetime.now(UTC) + timedelta(minutes=5)).isoformat().replace("+00:00", "Z")
    route.fulfill(response=response, json=body)


def test_console_comes_back_live_after_a_server_restart_without_a_second_login(
        page: Page, desk: Desk, console_server: ServerProcess, page_errors: PageErrors) -> None:
    page_errors.allow(*REFUSED)
    open_position(desk)
    page.route("**/v1/auth/accessTokenRequest", expiring_soon)
    renewals: list[str] = []
    page.on("request", lambda request: renewals.append(request.url) if "renewAccessToken" in request.url else None)
    log_in(page, ADMIN, ADMIN_PASSWORD)
    expect(row(page, "DEMO1").locator('[data-col="positions"]')).to_have_text(f"{FRONT} +1")
    assert renewals == []
    console_server.stop()
    expect(page.locator("#live")).to_have_text(re.compile("^reconnecting"))
    console_server.start()
    expect(page.locator("#live")).to_have_text("live", timeout=RECONNECTED_MS)
    assert renewals, "a token 5 minutes from its expiry is renewed before the socket is authorized again"
    desk.quote(bid=6805.0, ask=6805.25)  # a quote after the restart: the page subscribed again
    expect(row(page, "DEMO1").locator('[data-col="openPnl"]')).to_have_text("243.75")
    desk.api.call("accountRiskStatus/setAdminAutoLiqAction", {  # an event after the restart: synced again
        "accountId": desk.demo2, "adminAction": "LockTradingImmediately", "adminActionReasonCode": "Other",
        "adminActionReason": "After the restart"}, desk.admin)
    expect(row(page, "DEMO2").locator('[data-col="status"]')).to_have_text("locked: After the restart")
    expect(page.locator("#count")).to_have_text("3 of 3 accounts")  # the new snapshot replaced the old: no duplicate
    expect(page.locator('.grid-row[data-name="DEMO1"]:not([hidden])')).to_have_count(1)
    expect(page.locator("#login-view")).to_be_hidden()
    assert page.evaluate("consoleStats().follows") == 2


def test_simulator_reset_reloads_the_table_through_a_new_connection_without_stale_rows(page: Page, desk: Desk) -> None:
    open_position(desk)
    log_in(page, ADMIN, ADMIN_PASSWORD)
    expect(row(page, "DEMO1").locator('[data-col="positions"]')).to_have_text(f"{FRONT} +1")
    page.click("#nav-simulator")
    page.click("#sim-reset")
    confirm(page)
    page.click("#nav-accounts")
    expect(row(page, "DEMO1").locator('[data-col="positions"]')).to_have_text("")  # a reset publishes no events
    expect(page.locator("#count")).to_have_text("3 of 3 accounts")
    expect(page.locator("#live")).to_have_text("live")
    assert page.evaluate("consoleStats().follows") == 2


def test_console_goes_back_to_the_login_form_when_its_session_ends(page: Page, desk: Desk) -> None:
    log_in(page, DEMO, DEMO_PASSWORD)
    page.goto(f"/#/account/{desk.demo1}")
    desk.api.login(DEMO, DEMO_PASSWORD)
    desk.api.login(DEMO, DEMO_PASSWORD)  # a third and a fourth session of the user: the console's has ended
    expect(page.locator("#login-view")).to_be_visible()
    expect(page.locator("#login-error")).to_have_text(re.compile("session has ended.*log in again"))
    page.fill("#login-name", DEMO)
    page.fill("#login-password", DEMO_PASSWORD)
    page.click("#login-submit")
    expect(page.locator("#account-name")).to_have_text("DEMO1")  # back where it was
    expect(page.locator("#live")).to_have_text("live")


def focused(page: Page, attribute: str = "id") -> str | None:
    return page.evaluate(f"document.activeElement && document.activeElement.getAttribute('{attribute}')")  # type: ignore[no-any-return]


def test_keyboard_alone_opens_an_account_and_locks_it_through_the_dialog(page: Page, desk: Desk) -> None:
    page.goto("/")
    page.focus("#login-name")
    page.keyboard.type(ADMIN)
    page.keyboard.press("Tab")
    page.keyboard.type(ADMIN_PASSWORD)
    page.keyboard.press("Enter")
    expect(page.locator("#live")).to_have_text("live")
    unnamed = page.evaluate("""[...document.querySelectorAll('button, input, select')].filter((e) => !e.hidden
        && !(e.getAttribute('aria-label') || e.labels?.length || e.textContent.trim())).map((e) => e.outerHTML)""")
    assert unnamed == [], unnamed
    expect(page.locator('.grid-row[tabindex="0"]')).to_have_count(1)  # one row in the tab order
    row(page, "DEMO1").focus()
    page.keyboard.press("ArrowDown")
    assert focused(page, "data-name") == "DEMO2"
    page.keyboard.press("Enter")
    expect(page.locator("#account-name")).to_have_text("DEMO2")
    assert focused(page) == "account-name"
    page.focus("#lock-account")
    page.keyboard.press("Enter")
    expect(page.locator("#confirm")).to_be_visible()
    assert focused(page) == "confirm-cancel"  # the safe answer first
    for expected in ("confirm-ok", "confirm-cancel", "confirm-ok"):  # Tab cycles inside the dialog
        page.keyboard.press("Tab")
        assert focused(page) == expected
    page.keyboard.press("Escape")
    expect(page.locator("#confirm")).to_be_hidden()
    assert focused(page) == "lock-account"  # back where it was
    expect(page.locator("#account-status")).to_have_text("normal")
    page.keyboard.press("Enter")
    page.keyboard.press("Shift+Tab")
    assert focused(page) == "confirm-ok"
    page.keyboard.press("Enter")
    expect(page.locator("#account-status")).to_have_text("locked: Risk desk console")


def test_the_dialog_opened_again_before_its_last_close_event_keeps_its_own_answer_focus_and_keys(page: Page) -> None:
    """A keyboard user's Escape then Enter can reopen the dialog before the browser fires the first `close` (a task
    of its own; input goes first on a busy machine): that stale event settles neither the new opening nor its keys."""
    page.goto("/")
    page.evaluate("""async () => {
        const { confirmAction } = await import("/console/actions.js");  // the page's own module instance
        const dialog = document.getElementById("confirm");
        window.first = confirmAction("Lock A", "first", "Lock");
        dialog.close("cancel");  // closed: its close event is queued, not yet fired
        window.second = confirmAction("Lock B", "second", "Lock");  // opened again before it
        window.answers = [];
        window.first.then((ok) => window.answers.push(["first", ok]));
        window.second.then((ok) => window.answers.push(["second", ok]));
        await new Promise((resolve) => setTimeout(resolve, 100));  // the stale close event has come by now
    }""")
    expect(page.locator("#confirm")).to_be_visible()
    assert focused(page) == "confirm-cancel"
    assert page.evaluate("window.answers") == [["first", False]]
    page.keyboard.press("Shift+Tab")  # the trap still holds the focus in the dialog
    assert focused(page) == "confirm-ok"
    page.keyboard.press("Enter")
    expect(page.locator("#confirm")).to_be_hidden()
    page.wait_for_function("window.answers.length === 2")
    assert page.evaluate("window.answers") == [["first", False], ["second", True]]


def risk_action(desk: Desk, account_id: int, action: str, reason: str) -> None:
    result = desk.api.call("accountRiskStatus/setAdminAutoLiqAction", {
        "accountId": account_id, "adminAction": action, "adminActionReasonCode": "Other",
        "adminActionReason": reason}, desk.admin)
    assert not result.get("errorText"), result


def test_accounts_in_every_risk_state_for_the_readme(page: Page, desk: Desk) -> None:
    """The README's picture of the table (tests/browser/artifacts/accounts-risk-states.png, copied once to
    docs/console-accounts.png): traders' evaluation accounts normal, near their level, liquidation-only, locked
    and auto-liquidated."""
    owners = {name: desk.create_user(name) for name in ("alice", "bob", "carol")}
    rule = {"trailingMaxDrawdown": 2500, "trailingMaxDrawdownMode": "RealTime"}
    specs = [("alice", "ALICE-50K", 50_000), ("alice", "ALICE-100K", 100_000), ("bob", "BOB-50K", 50_000),
             ("bob", "BOB-25K", 25_000), ("carol", "CAROL-50K", 50_000)]
    created = desk.api.call("user/createevaluationaccounts", {"accounts": [
        evaluation_account(owners[owner], desk.template, name, initial_balance=balance, postTradeRisk=rule)
        for owner, name, balance in specs]}, desk.admin)
    ids = {name: item["accountId"] for (_, name, _), item in zip(specs, created["results"], strict=True)}
    desk.api.call("userAccountAutoLiq/updateuserautoliq", {"accountId": ids["BOB-50K"], "dailyLossAutoLiq": 300,
                                                           "trailingMaxDrawdown": 2500}, desk.admin)
    desk.quote(bid=6800.0, ask=6800.25)
    for name, qty in (("ALICE-50K", 2), ("ALICE-100K", 1), ("BOB-50K", 1), ("CAROL-50K", 1)):
        assert desk.place(order(ids[name], qty=qty), desk.admin).get("orderId")
    assert desk.place(order(desk.demo1, action="Sell"), desk.admin).get("orderId")
    risk_action(desk, ids["CAROL-50K"], "LockTradingImmediately", "News-trading rule broken")
    risk_action(desk, ids["ALICE-100K"], "LiquidateOnlyModeImmediately", "Near the daily loss limit")
    page.set_viewport_size({"width": 1400, "height": 420})
    log_in(page, ADMIN, ADMIN_PASSWORD)
    desk.quote(bid=6792.5, ask=6792.75)  # about -375 a contract: past BOB-50K's daily loss rule
    expect(row(page, "BOB-50K").locator('[data-col="status"]')).to_contain_text("auto-liquidated")
    expect(row(page, "CAROL-50K").locator('[data-col="status"]')).to_have_text("locked: News-trading rule broken")
    expect(row(page, "ALICE-100K").locator('[data-col="status"]')).to_have_text(
        "liquidation-only: Near the daily loss limit")
    expect(row(page, "ALICE-50K").locator('[data-col="positions"]')).to_have_text(f"{FRONT} +2")
    expect(page.locator("#count")).to_have_text("8 of 8 accounts")
    page.mouse.move(0, 0)  # no row under the pointer
    screenshot(page, "accounts-risk-states")
