"""The risk-desk console: its static assets (`server/console_assets/`, shipped in the package) served at `/` and
`/console/<file>`, with the security headers every console response carries.

The console is plain HTML, CSS and JavaScript modules that talk to the server only through the public API
(`/v1/...`, `/v1/websocket`, `/sim/...`). The assets are read once, when the app is built; a name that is not one
of them is a 404, so no path from a request ever reaches the file system.
"""

from importlib import resources

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

ASSETS = "console_assets"
MEDIA_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
               ".css": "text/css; charset=utf-8", ".png": "image/png"}

# Only the server's own assets and its own WebSocket ('self' covers ws:// of the same host and port in Chromium
# and Firefox: CSP Level 3); no inline script or style, no frames, no plugins, no base or form elsewhere.
CONTENT_SECURITY_POLICY = "; ".join([
    "default-src 'none'", "script-src 'self'", "style-src 'self'", "img-src 'self' data:", "connect-src 'self'",
    "font-src 'self'", "frame-ancestors 'none'", "base-uri 'none'", "form-action 'none'",
])
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cache-Control": "no-cache",
}


class Asset:
    """One file of the console: its bytes and media type."""

    def __init__(self, body: bytes, media_type: str) -> None:
        self.body = body
        self.media_type = media_type


def load_assets() -> dict[str, Asset]:
    """Every asset of the console by file name, read from the package."""
    folder = resources.files("tradovate_sim.server").joinpath(ASSETS)
    found: dict[str, Asset] = {}
    for item in folder.iterdir():
        suffix = "." + item.name.rpartition(".")[2]
        if item.is_file() and suffix in MEDIA_TYPES:
            found[item.name] = Asset(item.read_bytes(), MEDIA_TYPES[suffix])
    if "index.html" not in found:
        raise RuntimeError(f"the console's assets are missing from the package ({ASSETS}/index.html)")
    return found


def asset_response(asset: Asset | None) -> Response:
    if asset is None:
        return Response("Not found", status_code=404, media_type="text/plain", headers=SECURITY_HEADERS)
    return Response(asset.body, media_type=asset.media_type, headers=SECURITY_HEADERS)


def routes() -> list[Route]:
    """`GET /` (the console's page) and `GET /console/<file>` (its scripts and styles)."""
    assets = load_assets()

    async def index(_request: Request) -> Response:
        return asset_response(assets["index.html"])

    async def asset(request: Request) -> Response:
        return asset_response(assets.get(request.path_params["name"]))

    return [Route("/", index, methods=["GET"]), Route("/console/{name}", asset, methods=["GET"])]
