"""The risk-desk console in headless chromium against a running server: what an admin and a trader see, the
actions from the page, and live updates without a reload."""

from console_page import log_in, screenshot
from playwright.sync_api import Page, expect
from server import ADMIN, ADMIN_PASSWORD, DEMO, DEMO_PASSWORD, FRONT, Desk, limit, order


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
