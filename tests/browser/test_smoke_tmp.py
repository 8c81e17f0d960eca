from conftest import log_in, screenshot
from server import ADMIN, ADMIN_PASSWORD

def test_smoke(page, desk):
    log_in(page, ADMIN, ADMIN_PASSWORD)
    page.wait_for_selector(".grid-row")
    screenshot(page, "smoke")
    print(page.evaluate("consoleStats()"))
