"""The point of sale's hot call, answered ahead of FastAPI's request machinery.

``POST /v1/vouchers/redeem`` (and ``/confirm``) by code, from a pos key, with no
Idempotency-Key, is the call a deployment makes thousands of times a second. Through FastAPI
it cost ~0.6 ms of CPU on top of the redemption itself: the route walk, a dozen wrapped ASGI
layers, dependency solving, the body model built twice. This middleware answers that call's
success directly: it reads the body, validates it with the route's own model, resolves the
key (through the same cache) and awaits ``redemption.use_quickly`` (``quick_use.py``).

Anything else (no quick store, another content type, a body the model refuses, a missing,
unknown or revoked key, a role that may not, any refusal or case the quick path leaves) goes
on to FastAPI with the body already read, and FastAPI answers it as it answers every call,
with the same models and the same errors. Only a success, or a write whose outcome is
unknown, is answered here. Each call of these paths is counted in
``tessera_redemption_path_total``: ``quick``, or ``transactional`` with the reason.
"""

from __future__ import annotations

from fastapi.routing import APIRoute
from pydantic import ValidationError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tessera.adapters.db.repositories.quick_use import QuickUses
from tessera.bootstrap import Container
from tessera.domain.errors import DomainError, Unavailable
from tessera.domain.roles import Permission, allows
from tessera.domain.statuses import Operation
from tessera.entrypoints.http import vouchers
from tessera.entrypoints.http.bodies import read_body, replay
from tessera.entrypoints.http.deps import caller_of
from tessera.entrypoints.http.idempotency import HEADER as IDEMPOTENCY_HEADER
from tessera.entrypoints.http.metrics import Metrics
from tessera.entrypoints.http.problems import domain_problem
from tessera.entrypoints.http.vouchers import ByCodeIn, OutcomeOut, by_code_request
from tessera.services import redemption

OPERATIONS = {
    "/v1/vouchers/redeem": Operation.REDEEM,
    "/v1/vouchers/confirm": Operation.CONFIRM,
}
LARGEST_BODY = 16_384  # a by-code body is well under 1 KB; larger ones go to FastAPI
_IDEMPOTENCY = IDEMPOTENCY_HEADER.lower().encode()


class PointOfSale:
    def __init__(self, app: ASGIApp, container: Container, metrics: Metrics) -> None:
        self.app = app
        self.container = container
        self.paths = metrics.redemption_path
        # The routes these paths belong to, so that metrics label the calls as FastAPI would.
        self.routes = {
            route.path: route
            for route in vouchers.router.routes
            if isinstance(route, APIRoute) and route.path in OPERATIONS
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        operation = OPERATIONS.get(scope.get("path", "")) if scope["type"] == "http" else None
        quick = self.container.quick_uses
        if operation is None or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        if quick is None:  # SQLite: every use goes through the unit of work
            self.paths.labels("transactional", "no_quick_store").inc()
            await self.app(scope, receive, send)
            return
        token, typed_json, idempotent = _headers(scope["headers"])
        declined = _header_decline(token, typed_json, idempotent)
        if declined is not None:
            self.paths.labels("transactional", declined).inc()
            await self.app(scope, receive, send)
            return
        assert token is not None
        body, complete = await read_body(receive, LARGEST_BODY)
        answered = (
            await self._answered(quick, operation, token, body, scope, send)
            if complete
            else "body_incomplete"
        )
        if answered is None:
            self.paths.labels("quick", "").inc()
            return
        self.paths.labels("transactional", answered).inc()
        await self.app(scope, replay(body, complete, receive), send)

    async def _answered(
        self,
        quick: QuickUses,
        operation: Operation,
        token: str,
        body: bytes,
        scope: Scope,
        send: Send,
    ) -> str | None:
        """None when the redemption was answered here; else why it is left to FastAPI."""
        try:
            fields = ByCodeIn.model_validate_json(body)
        except ValidationError:
            return "body_invalid"
        try:
            caller = await caller_of(self.container, token)
        except DomainError:
            return "key_refused"
        if not allows(caller.role, Permission.POINT_OF_SALE):
            return "role"
        scope["route"] = self.routes.get(scope["path"])
        uow = self.container.uow(caller.tenant_id, caller.key_id)
        try:
            outcome = await redemption.use_quickly(
                quick,
                uow,
                self.container.code_secret,
                by_code_request(fields),
                operation,
                receives_shares=caller.receives_shares,
            )
        except Unavailable as unknown:  # the write's outcome is unknown: never tried again here
            await domain_problem(unknown)(scope, _no_receive, send)
            return None
        except DomainError:  # refused before writing: FastAPI's path refuses it too, in full
            return str(redemption.Decline.REFUSED)
        if isinstance(outcome, redemption.Decline):
            return str(outcome)
        content = OutcomeOut.of(outcome).model_dump_json().encode()
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(content)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": content})
        return None


def _header_decline(token: str | None, typed_json: bool, idempotent: bool) -> str | None:
    if token is None:
        return "no_key"
    if not typed_json:
        return "not_json"
    if idempotent:  # a retry key is settled by the idempotency layer, in a transaction
        return "idempotency_key"
    return None


def _headers(headers: list[tuple[bytes, bytes]]) -> tuple[str | None, bool, bool]:
    """The bearer token, whether the body is typed as JSON, whether a retry key is sent."""
    token, typed_json, idempotent = None, False, False
    for name, value in headers:
        if name == b"authorization":
            scheme, _, credentials = value.decode("latin-1").partition(" ")
            if scheme.lower() == "bearer" and credentials:
                token = credentials
        elif name == b"content-type":
            typed_json = value.split(b";")[0].strip().lower() == b"application/json"
        elif name == _IDEMPOTENCY:
            idempotent = True
    return token, typed_json, idempotent


async def _no_receive() -> Message:
    return {"type": "http.disconnect"}
