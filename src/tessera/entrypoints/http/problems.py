"""Errors as RFC 9457 problem documents, each with a stable ``code``: the one place where
domain errors become HTTP statuses."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from tessera.adapters.db.engine import DatabaseBusy
from tessera.domain import errors
from tessera.domain.roles import Role, operations_for
from tessera.domain.statuses import IllegalTransition, Operation

STATUS_OF: dict[type[errors.DomainError], int] = {
    errors.NotFound: 404,
    errors.Invalid: 422,
    errors.Conflict: 409,
    errors.Unauthenticated: 401,
    errors.Forbidden: 403,
    errors.TooManyAttempts: 429,
    errors.Gone: 410,
    errors.Unavailable: 503,
}

PROBLEM_JSON = "application/problem+json"


def problem_body(status: int, code: str, detail: str, /, **extra: Any) -> dict[str, Any]:
    # RFC 9457's "status" is the HTTP status; a domain error's own "status" (a voucher's
    # current status, for instance) is shown as "current_status".
    if "status" in extra:
        extra["current_status"] = extra.pop("status")
    return {
        "type": "about:blank",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "code": code,
        "detail": detail,
        **extra,
    }


def request_id() -> str | None:
    """The id of the request being answered (bound by ``request_context``)."""
    found: str | None = structlog.contextvars.get_contextvars().get("request_id")
    return found


def problem(status: int, code: str, detail: str, /, **extra: Any) -> JSONResponse:
    body = problem_body(status, code, detail, **extra)
    body["request_id"] = request_id()
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    if status == 429 and "retry_after" in extra:
        headers = {"Retry-After": str(extra["retry_after"])}
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def domain_problem(error: errors.DomainError) -> JSONResponse:
    return problem(status_of(error), error.code, error.message, **error.extra)


def status_of(error: errors.DomainError) -> int:
    for kind in type(error).__mro__:
        if kind in STATUS_OF:
            return STATUS_OF[kind]
    return 400


def _field(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or "body"


PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "type": "object",
    "description": "An RFC 9457 problem document; `code` is stable, `detail` says why. A refused "
    "input names its `field` and the `reason` (`errors`: every one, when there are several).",
    "required": ["type", "title", "status", "code", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "code": {"type": "string"},
        "detail": {"type": "string"},
        "request_id": {"anyOf": [{"type": "string"}, {"type": "null"}]},
        "field": {"type": "string"},
        "reason": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["field", "reason"],
                "properties": {"field": {"type": "string"}, "reason": {"type": "string"}},
            },
        },
    },
    "additionalProperties": True,
}
PROBLEM_RESPONSE: dict[str, Any] = {
    "description": "A problem: the request is refused (4xx), or the service cannot answer now",
    "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
}


def document(app: FastAPI) -> None:
    """The schema says what a refusal answers: every operation's 4xx (and 5xx) is a problem
    document in application/problem+json, not FastAPI's default 422 `HTTPValidationError`
    in application/json (which no request is ever answered)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        schema = generate()  # cached by FastAPI after the first call: edited once
        for item in schema.get("paths", {}).values():
            for operation in item.values():
                responses = operation.setdefault("responses", {})
                responses.pop("422", None)
                responses["4XX"] = PROBLEM_RESPONSE
                responses["5XX"] = PROBLEM_RESPONSE
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components.pop("HTTPValidationError", None)
        components.pop("ValidationError", None)
        components["Problem"] = PROBLEM_SCHEMA
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def install(app: FastAPI) -> None:
    document(app)

    @app.exception_handler(errors.DomainError)
    async def _domain(request: Request, exc: errors.DomainError) -> JSONResponse:
        role: Role | None = getattr(request.state, "role", None)
        if isinstance(exc, IllegalTransition) and role is not None:
            # Offer only the ways out this caller has an endpoint for.
            offered = operations_for(role, map(Operation, exc.extra["allowed_operations"]))
            extra = {**exc.extra, "allowed_operations": [op.value for op in offered]}
            return problem(status_of(exc), exc.code, exc.message, **extra)
        return domain_problem(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [
            {"field": _field(tuple(e.get("loc", ()))), "reason": e.get("msg", "invalid")}
            for e in exc.errors()
        ]
        detail = "; ".join(f"{p['field']}: {p['reason']}" for p in problems)
        first = problems[0] if problems else {"field": "body", "reason": "invalid"}
        return problem(
            422, "invalid", detail, field=first["field"], reason=first["reason"], errors=problems
        )

    @app.exception_handler(DatabaseBusy)
    async def _busy(_request: Request, exc: DatabaseBusy) -> JSONResponse:
        return problem(503, "database_busy", str(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return problem(exc.status_code, code, str(exc.detail))

    # An unexpected error is answered (and logged, once) by request_context.RequestContext.
