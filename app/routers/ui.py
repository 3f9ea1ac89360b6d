"""The web UI at ``/`` and the API documentation at ``/docs`` and ``/redoc``, all served by the
service itself: nothing is fetched from another origin, so both work on a host without internet.

The UI is plain HTML, CSS and JavaScript modules (``app/static/ui``, no build step); Swagger UI
and ReDoc come from the ``fastapi-offline`` package's copies of their bundles.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files
from pathlib import Path

from fastapi import APIRouter, FastAPI, Request
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import FileResponse, HTMLResponse, Response
from fastapi.staticfiles import StaticFiles

UI_FOLDER = Path(__file__).resolve().parent.parent / "static" / "ui"
DOCS_ASSETS = Path(str(files("fastapi_offline") / "static"))
UI_PREFIX, DOCS_PREFIX = "/ui", "/docs-assets"
# ReDoc's bundle draws its sidebar logo from Redocly's CDN: the page would reach out for it.
REDOC_CDN_LOGO = b"https://cdn.redoc.ly/redoc/logo-mini.svg"

router = APIRouter(include_in_schema=False)


@router.get("/")
async def index() -> FileResponse:
    return FileResponse(UI_FOLDER / "index.html", headers={"Cache-Control": "no-cache"})


@router.get("/docs")
async def swagger_ui(request: Request) -> HTMLResponse:
    root = request.scope.get("root_path", "")
    return get_swagger_ui_html(
        openapi_url=f"{root}/openapi.json",
        title="d2l-serve - Swagger UI",
        oauth2_redirect_url=f"{root}/docs/oauth2-redirect",
        swagger_js_url=f"{root}{DOCS_PREFIX}/swagger-ui-bundle.js",
        swagger_css_url=f"{root}{DOCS_PREFIX}/swagger-ui.css",
        swagger_favicon_url=f"{root}{DOCS_PREFIX}/favicon.png",
    )


@router.get("/docs/oauth2-redirect")
async def swagger_ui_redirect() -> HTMLResponse:
    return get_swagger_ui_oauth2_redirect_html()


@router.get("/redoc")
async def redoc(request: Request) -> HTMLResponse:
    root = request.scope.get("root_path", "")
    return get_redoc_html(
        openapi_url=f"{root}/openapi.json",
        title="d2l-serve - ReDoc",
        redoc_js_url=f"{root}{DOCS_PREFIX}/redoc.standalone.js",
        redoc_favicon_url=f"{root}{DOCS_PREFIX}/favicon.png",
        with_google_fonts=False,
    )


@cache
def _redoc_bundle() -> bytes:
    bundle = (DOCS_ASSETS / "redoc.standalone.js").read_bytes()
    return bundle.replace(REDOC_CDN_LOGO, f"{DOCS_PREFIX}/favicon.png".encode())


@router.get(f"{DOCS_PREFIX}/redoc.standalone.js")
async def redoc_bundle() -> Response:
    return Response(_redoc_bundle(), media_type="text/javascript")


def install_ui(app: FastAPI) -> None:
    """The UI's and the documentation's routes and files (create the app with
    ``docs_url=None, redoc_url=None`` so FastAPI's CDN-based pages stay off)."""
    app.include_router(router)
    app.mount(UI_PREFIX, StaticFiles(directory=UI_FOLDER), name="ui")
    app.mount(DOCS_PREFIX, StaticFiles(directory=DOCS_ASSETS), name="docs-assets")
