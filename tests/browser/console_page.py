"""What the console's browser tests share: the browser's launch, logging in, screenshots."""

from pathlib import Path

from playwright.sync_api import Page

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARTIFACTS = Path(__file__).parent / "artifacts"
TIMEOUT_MS = 10_000
# A trader's console asks `GET /sim/clock` once to learn it is not an admin; chromium logs the 401 answer.
PROBE_REFUSED = "the server responded with a status of 401 (Unauthorized)"



def log_in(page: Page, name: str, password: str) -> None:
    page.goto("/")
    page.fill("#login-name", name)
    page.fill("#login-password", password)
    page.click("#login-submit")
    page.wait_for_selector("#live.on")


def screenshot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"))
