"""Sign-in (an API key exchanged for a session cookie) and sign-out."""
# No "from __future__ import annotations": FastAPI reads the dependencies' annotations.

import secrets
from datetime import timedelta

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from tessera.domain.errors import Unauthenticated
from tessera.entrypoints.console.web import (
    PREFIX,
    SESSION_COOKIE,
    SIGN_IN_COOKIE,
    ConsoleRoute,
    Form,
    container_of,
    redirect,
    render,
)
from tessera.services.sessions import sign_in, sign_out

router = APIRouter(prefix=PREFIX, route_class=ConsoleRoute, include_in_schema=False)
NAV: list[tuple[str, str, str]] = []


def _next(target: str | None) -> str:
    # Only a page of the console: never an open redirect to another host.
    if target and target.startswith(PREFIX + "/") and not target.startswith("//"):
        return target
    return PREFIX


@router.get("/sign-in")
def sign_in_page(request: Request, next: str | None = None) -> Response:
    token = secrets.token_urlsafe(32)
    response = render(request, "sign_in.html", sign_in_csrf=token, next=_next(next))
    response.set_cookie(
        SIGN_IN_COOKIE,
        token,
        max_age=3600,
        path=f"{PREFIX}/sign-in",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


@router.post("/sign-in")
async def sign_in_submit(request: Request) -> Response:
    form = await request.form()
    key, presented, target = (str(form.get(n) or "") for n in ("key", "csrf", "next"))
    expected = request.cookies.get(SIGN_IN_COOKIE)
    if not expected or not secrets.compare_digest(expected, presented):
        return render(
            request,
            "sign_in.html",
            status_code=403,
            sign_in_csrf=expected or "",
            next=_next(target),
            errors={"_": "the form's CSRF token is missing or wrong: reload the page"},
        )
    container = container_of(request)
    if not key.strip():
        errors = {"key": "enter an API key (tsk_...)"}
        return render(
            request, "sign_in.html", status_code=422, sign_in_csrf=expected, next=_next(target),
            errors=errors,
        )  # fmt: skip
    lifetime = timedelta(minutes=container.settings.console_session_minutes)
    try:
        token, _session = await run_in_threadpool(sign_in, container.directory(), key, lifetime)
    except Unauthenticated as exc:
        return render(
            request, "sign_in.html", status_code=401, sign_in_csrf=expected, next=_next(target),
            errors={"key": exc.message},
        )  # fmt: skip
    response = redirect(_next(target))
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int(lifetime.total_seconds()),
        path=PREFIX,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    response.delete_cookie(SIGN_IN_COOKIE, path=f"{PREFIX}/sign-in")
    return response


@router.post("/sign-out")
async def sign_out_submit(request: Request, posted: Form) -> Response:
    await run_in_threadpool(sign_out, posted.signed.container.directory(), posted.signed.token)
    response = redirect(f"{PREFIX}/sign-in")
    response.delete_cookie(SESSION_COOKIE, path=PREFIX)
    return response
