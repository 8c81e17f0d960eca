"""`/docs`: a browsable page of the OpenAPI document (`/v1/openapi.json`), drawn by Swagger UI, whose assets the
server serves itself (no CDN, works offline). The assets come from the `swagger-ui-py` package (Swagger UI 5, which
reads OpenAPI 3.1); the page and its start-up script are ours, so that the Content-Security-Policy allows nothing but
this server: no inline script, no other origin, and Swagger UI's online validator switched off.
"""

import importlib.util
from pathlib import Path

import msgspec
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import BaseRoute, Route

from tradovate_sim.model.results import ErrorResponse

# Only this server; Swagger UI draws its icons as `data:` images (checked in Chromium with a `report-uri`: no
# violation rendering the page and expanding operations).
POLICY = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
          "connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
HEADERS = {
    "Content-Security-Policy": POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
}

# The files of the Swagger UI package the page loads, and their media types.
ASSETS = {
    "swagger-ui.css": "text/css; charset=utf-8",
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "index.css": "text/css; charset=utf-8",
    "favicon-32x32.png": "image/png",
    "favicon-16x16.png": "image/png",
}

PAGE = """<!DOCTYPE html>
<html lang="en">
  <head>
    <meta charset="utf-8">
    <title>tradovate-sim API</title>
    <link rel="stylesheet" href="/docs/swagger-ui.css">
    <link rel="stylesheet" href="/docs/index.css">
    <link rel="icon" type="image/png" href="/docs/favicon-32x32.png" sizes="32x32">
  </head>
  <body>
    <div id="swagger-ui"></div>
    <script src="/docs/swagger-ui-bundle.js"></script>
    <script src="/docs/start.js"></script>
  </body>
</html>
"""

START = """window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    url: "/v1/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
    validatorUrl: "none",
  });
});
"""


def error_body(text: str) -> bytes:
    return msgspec.json.encode(ErrorResponse(error_text=text))


def assets_directory() -> Path | None:
    """Where the installed Swagger UI package keeps its files (found without importing it), or None."""
    spec = importlib.util.find_spec("swagger_ui")
    if spec is None or not spec.submodule_search_locations:
        return None
    directory = Path(next(iter(spec.submodule_search_locations))) / "static"
    return directory if all((directory / name).is_file() for name in ASSETS) else None


def routes() -> list[BaseRoute]:
    """`GET /docs`, its start-up script and the Swagger UI assets; a 404 naming the file for any other."""
    directory = assets_directory()

    async def page(_request: Request) -> Response:
        if directory is None:
            return Response(error_body("docs: the Swagger UI package (swagger-ui-py) is not installed"), 503,
                            headers=HEADERS, media_type="application/json")
        return Response(PAGE, headers=HEADERS, media_type="text/html; charset=utf-8")

    async def start(_request: Request) -> Response:
        return Response(START, headers=HEADERS, media_type="text/javascript; charset=utf-8")

    async def asset(request: Request) -> Response:
        name = request.path_params["name"]
        media_type = ASSETS.get(name)
        if media_type is None or directory is None:
            return Response(error_body(f"docs: no file {name!r}"), 404, headers=HEADERS,
                            media_type="application/json")
        return FileResponse(directory / name, media_type=media_type,
                            headers={**HEADERS, "Cache-Control": "public, max-age=86400"})

    return [
        Route("/docs", page, methods=["GET"]),
        Route("/docs/start.js", start, methods=["GET"]),
        Route("/docs/{name}", asset, methods=["GET"]),
    ]
