"""The portal's routes under `/portal`, assembled from its pages, and its static
files (served by the service itself: no page loads anything from elsewhere)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, FastAPI
from starlette.staticfiles import StaticFiles

from laurels.portal.pages import audit, home, operating, people, publishing, signin, testing, titles
from laurels.portal.web import STATIC, close_forms, install

router = APIRouter(prefix="/portal", dependencies=[Depends(close_forms)])
for page in (signin, home, audit, people, titles, publishing, testing, operating):
    router.include_router(page.router)


def mount(app: FastAPI) -> None:
    """The portal's pages, static files and error answers on `app`."""
    app.include_router(router)
    app.mount("/portal/static", StaticFiles(directory=STATIC), name="portal-static")
    install(app)
