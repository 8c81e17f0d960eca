"""What the console's browser tests share: the browser's launch, logging in, screenshots."""

from pathlib import Path

from playwright.sync_api import Page

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARTIFACTS = Path(__file__).parent / "artifacts"
TIMEOUT_MS = 10_000


class PageErrors:
    """The errors a page logged (uncaught exceptions, `console.error`, failed resources); a test that provokes some
    (a server restart: refused socket connections) allows them by their start."""

    def __init__(self) -> None:
        self.seen: list[str] = []
        self.allowed: tuple[str, ...] = ()

    def allow(self, *starts: str) -> None:
        self.allowed += starts

    def add(self, text: str) -> None:
        self.seen.append(text)

    def unexpected(self) -> list[str]:
        return [text for text in self.seen if not any(start in text for start in self.allowed)]


def log_in(page: Page, name: str, password: str) -> None:
    page.goto("/")
    page.fill("#login-name", name)
    page.fill("#login-password", password)
    page.click("#login-submit")
    page.wait_for_selector("#live.on")


def screenshot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"))
