"""What every console page shares: templates, the signed-in session, the CSRF check, role
checks (the API's own ``allowed``), and errors rendered as pages instead of JSON.

A page gets the caller from its session cookie and opens units of work through
``Signed.uow(permission)``, which refuses (403) a role that may not do it, whatever the page
showed. Every POST carries the session's CSRF token (form field ``csrf`` or header
``X-CSRF-Token``, sent by htmx); without it the request is refused before it is read further.
"""
# No "from __future__ import annotations": FastAPI reads the dependencies' annotations.

from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

import jinja2
from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from pydantic import ValidationError
from starlette.datastructures import FormData

from tessera.adapters.db.unit_of_work import UnitOfWork
from tessera.bootstrap import Container
from tessera.domain.errors import DomainError, Forbidden, Invalid, Unauthenticated
from tessera.domain.roles import READS, Permission, allows
from tessera.domain.sessions import csrf_matches, csrf_token
from tessera.entrypoints.http.deps import allowed
from tessera.entrypoints.http.problems import status_of
from tessera.services.sessions import Session, session_of

PREFIX = "/console"
HERE = Path(__file__).parent
STATIC = HERE / "static"
SESSION_COOKIE = "tessera_session"
SIGN_IN_COOKIE = "tessera_sign_in"  # the sign-in form's own CSRF token (double submit)

# Only this host; no inline script (htmx is configured through a meta tag, and its own
# indicator styles are off, so no inline style either).
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)

templates = jinja2.Environment(
    loader=jinja2.FileSystemLoader(HERE / "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    auto_reload=False,
)


def _when(value: datetime | None) -> str:
    return "—" if value is None else value.strftime("%Y-%m-%d %H:%M:%S UTC")


def _day_or_when(value: datetime | None) -> str:
    """A report's period bound: the day alone when it is a midnight."""
    if value is not None and (value.hour, value.minute, value.second) == (0, 0, 0):
        return value.strftime("%Y-%m-%d")
    return _when(value)


templates.filters["when"] = _when
templates.filters["day_or_when"] = _day_or_when
templates.globals["prefix"] = PREFIX


class SignedOut(Exception):
    """No live session: the browser is sent to the sign-in page."""


class CsrfRefused(Forbidden):
    code = "csrf_refused"


@dataclass(frozen=True)
class Signed:
    """A request of a signed-in console user."""

    session: Session
    token: str
    container: Container

    @property
    def csrf(self) -> str:
        return csrf_token(self.token)

    def can(self, permission: str | Permission) -> bool:
        return allows(self.session.caller.role, Permission(permission))

    def uow(self, permission: Permission) -> UnitOfWork:
        """A unit of work for the caller's tenant, refused (Forbidden) for a role that lacks
        ``permission``: the API's own check."""
        caller = allowed(self.session.caller, permission)
        uow = self.container.uow(caller.tenant_id, caller.key_id, read_only=permission in READS)
        uow.bound_lists = caller.list_ids  # a partner's key reads its own lists only (deps.py)
        return uow


def container_of(request: Request) -> Container:
    container: Container = request.app.state.container
    return container


async def signed_in(request: Request) -> Signed:
    token = request.cookies.get(SESSION_COOKIE)
    container = container_of(request)
    try:
        session = await run_in_threadpool(session_of, container.directory(read_only=True), token)
    except Unauthenticated:
        raise SignedOut from None
    assert token is not None
    signed = Signed(session, token, container)
    request.state.signed = signed  # for the error page's navigation
    return signed


SignedIn = Annotated[Signed, Depends(signed_in)]


@dataclass(frozen=True)
class Posted:
    """A POST of a signed-in user whose CSRF token matched."""

    signed: Signed
    form: FormData

    def text(self, name: str) -> str:
        value = self.form.get(name)
        return value.strip() if isinstance(value, str) else ""

    def optional(self, name: str) -> str | None:
        return self.text(name) or None

    @property
    def values(self) -> dict[str, str]:
        return {k: v for k, v in self.form.items() if isinstance(v, str) and k != "csrf"}


async def posted(request: Request, signed: SignedIn) -> Posted:
    form = await request.form()
    presented = form.get("csrf")
    if not isinstance(presented, str):
        presented = request.headers.get("x-csrf-token")
    if not csrf_matches(signed.token, presented):
        raise CsrfRefused(
            "the form's CSRF token is missing or does not belong to this session: "
            "reload the page and send it again",
            code="csrf_refused",
        )
    return Posted(signed, form)


Form = Annotated[Posted, Depends(posted)]


def render(
    request: Request,
    name: str,
    signed: Signed | None = None,
    *,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    body = templates.get_template(name).render(
        request=request,
        signed=signed,
        prefix=PREFIX,
        path=request.url.path,
        errors=context.pop("errors", {}),
        values=context.pop("values", {}),
        **context,
    )
    response = HTMLResponse(body, status_code=status_code)
    closed(response)
    return response


def closed(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["Cache-Control"] = "no-store"
    return response


def redirect(url: str, **query: str) -> RedirectResponse:
    """See other (303): after a POST the browser GETs ``url`` with ``query``."""
    if query:
        url = f"{url}?{urlencode(query)}"
    response = RedirectResponse(url, status_code=303)
    closed(response)
    return response


def field_errors(exc: Exception) -> dict[str, str]:
    """The errors of a refused form, by field (``_`` for the form as a whole), from a
    pydantic validation of the API's request model or from a domain error."""
    if isinstance(exc, ValidationError | RequestValidationError):
        found: dict[str, str] = {}
        for error in exc.errors():
            loc = field_name(error.get("loc", ()))
            found.setdefault(loc, str(error.get("msg", "invalid")).removeprefix("Value error, "))
        return found
    if isinstance(exc, Invalid):
        return {exc.field: exc.reason}
    if isinstance(exc, DomainError):
        return {"_": exc.message}
    raise exc


FORM_ERRORS = (ValidationError, Invalid, DomainError)


def field_name(loc: tuple[Any, ...] | list[Any]) -> str:
    """A pydantic location as the domain names fields: ``rewards[0].amount``."""
    name = ""
    for part in loc:
        if part == "body" and not name:
            continue
        name += f"[{part}]" if isinstance(part, int) else (f".{part}" if name else str(part))
    return name or "_"


def blank_to_none(values: dict[str, str]) -> dict[str, str | None]:
    return {k: (v.strip() or None) for k, v in values.items()}


def error_page(request: Request, exc: DomainError) -> Response:
    signed = getattr(request.state, "signed", None)
    status_code = status_of(exc)
    return render(
        request, "error.html", signed, status_code=status_code, error=exc, status=status_code
    )


class ConsoleRoute(APIRoute):
    """A console route: a missing session sends the browser to sign in (htmx: by the
    ``HX-Redirect`` header), and a refusal is a page saying why, with the API's status."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def console_handler(request: Request) -> Response:
            try:
                return await handler(request)
            except SignedOut:
                target = f"{PREFIX}/sign-in"
                if request.headers.get("hx-request"):
                    return closed(Response(status_code=401, headers={"HX-Redirect": target}))
                if request.method == "GET":
                    return redirect(f"{target}?next={request.url.path}")
                return redirect(target)
            except RequestValidationError as exc:
                errors = field_errors(exc)
                detail = "; ".join(f"{k}: {v}" for k, v in errors.items())
                return error_page(request, Invalid("request", detail))
            except DomainError as exc:
                return error_page(request, exc)

        return console_handler
