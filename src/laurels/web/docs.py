"""`/docs`: Swagger UI over the published OpenAPI document, with its script, styles
and icon served by the service itself (vendored in `web/static/swagger`, see its
README), so that the page loads nothing from outside the host."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from starlette.staticfiles import StaticFiles

SWAGGER = Path(__file__).parent / "static" / "swagger"
PREFIX = "/docs/assets"


def mount_docs(app: FastAPI) -> None:
    """Serve `/docs` (the app must be built with `docs_url=None`)."""
    app.mount(PREFIX, StaticFiles(directory=SWAGGER), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        page = get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{app.title} API",
            swagger_js_url=f"{PREFIX}/swagger-ui-bundle.js",
            swagger_css_url=f"{PREFIX}/swagger-ui.css",
            swagger_favicon_url=f"{PREFIX}/favicon-32x32.png",
            # No badge fetched from the public validator; no deep link nested in each
            # operation's button (a link inside a button is out of reach of the keyboard).
            swagger_ui_parameters={"validatorUrl": None, "deepLinking": False},
        )
        return HTMLResponse(accessible(bytes(page.body).decode()))


def accessible(html: str) -> str:
    """Swagger UI's page with a language and the contrast fixes (docs-a11y.css)."""
    fixes = f'<link type="text/css" rel="stylesheet" href="{PREFIX}/docs-a11y.css">'
    return html.replace("<html>", '<html lang="en">', 1).replace("</head>", fixes + "</head>", 1)
