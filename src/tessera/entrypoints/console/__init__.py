"""The operator console under ``/console``: server-rendered pages (Jinja2) with htmx, every
asset shipped in this package. Pages call the API's route functions and services, never a
second copy of a rule; ``web.py`` holds the session, CSRF and role checks."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles

from tessera.entrypoints.console import (
    auth,
    batches,
    campaigns,
    catalog,
    dashboard,
    keys,
    lists,
    reports,
    subscribers,
    vouchers,
    webhooks,
)
from tessera.entrypoints.console.web import PREFIX, STATIC, templates

PAGES = (
    auth,
    dashboard,
    vouchers,
    subscribers,
    campaigns,
    catalog,
    batches,
    lists,
    webhooks,
    reports,
    keys,
)


def install(app: FastAPI) -> None:
    app.mount(f"{PREFIX}/static", StaticFiles(directory=STATIC), name="console-static")
    for module in PAGES:
        app.include_router(module.router)
    # The navigation: each page group's entries, shown to the roles with their permission.
    templates.globals["nav"] = [entry for module in PAGES for entry in module.NAV]

    @app.get("/", include_in_schema=False)
    def home() -> RedirectResponse:
        return RedirectResponse(PREFIX, status_code=307)
