"""``Idempotency-Key`` for every state-changing voucher call, implemented once.

With a key, the call runs inside a transaction opened here: the key row is claimed first,
the use case joins the transaction (a savepoint), and its answer (success, or a refusal
such as 404 or 409) is stored before the one commit. A retry with the same key and body
gets the stored answer and changes nothing; the same key with another body answers 422.
Answers that are not final (429 while barred, 5xx) are not stored: the claim rolls back.

A code is shown once: a stored answer keeps no plain code (``code``, ``replacement_code``
are stored as null, so a replay says the voucher was issued without showing its code
again), and the request fingerprint is keyed with the code secret, since the body of a call
by code carries the code.
"""
# No "from __future__ import annotations": FastAPI evaluates the dependency's annotations.

import hashlib
import hmac
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

import structlog
from fastapi import Depends, Header, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import DBAPIError

from tessera.adapters.db.engine import is_transient
from tessera.adapters.db.unit_of_work import UnitOfWork
from tessera.domain.errors import DomainError, Invalid
from tessera.entrypoints.http.problems import PROBLEM_JSON, problem_body, request_id, status_of

log = structlog.get_logger(__name__)
HEADER = "Idempotency-Key"
Reveal = Callable[[dict[str, Any]], dict[str, Any]]
T = TypeVar("T")
ATTEMPTS = 3  # of a transaction the database rolled back for a deadlock
REPLAYED = "Idempotent-Replayed"
STORED_STATUSES = frozenset({200, 201, 404, 409})
SHOWN_ONCE = frozenset({"code", "replacement_code"})


def run_again_if_transient(call: Callable[[], T], retried: Callable[[], object]) -> T:
    """``call`` (one transaction), run again from its start when the database rolled it back
    for a deadlock or a serialization failure, up to ``ATTEMPTS`` times in all (``retried``
    counts each retry): the one retry rule of the API and the console."""
    for attempt in range(1, ATTEMPTS + 1):
        try:
            return call()
        except DBAPIError as error:
            if not is_transient(error) or attempt == ATTEMPTS:
                raise
            retried()
            log.warning("transaction retried", attempt=attempt, sqlstate=_sqlstate(error))
    raise AssertionError("unreachable")  # the loop returns or raises


@dataclass(frozen=True, slots=True)
class Idempotency:
    key: str | None
    method: str
    path: str
    secret: bytes
    retried: Callable[[], None] = lambda: None  # counts a transaction run again

    def fingerprint(self, body: BaseModel | None) -> str:
        payload = body.model_dump(mode="json") if body is not None else None
        text = json.dumps([self.method, self.path, payload], sort_keys=True)
        return hmac.new(self.secret, text.encode(), hashlib.sha256).hexdigest()

    def run(
        self,
        uow: UnitOfWork,
        body: BaseModel | None,
        call: Callable[[], BaseModel],
        status_code: int = 200,
        reveal: Reveal | None = None,
        answer_status: Callable[[Any], int] | None = None,
    ) -> JSONResponse:
        """Run ``call`` (a use case on ``uow``) at most once per key. ``reveal`` may put back,
        in a replayed success, a shown-once value the store can open again (a partner code,
        sealed; never a voucher code, which is only a hash). A transaction the
        database rolled back for a deadlock or a serialization failure is run again, from
        its start, up to ``ATTEMPTS`` times: the caller never sees a 500 for it.
        ``answer_status`` picks a success's status from the answer (else ``status_code``)."""
        return run_again_if_transient(
            lambda: self._run_once(uow, body, call, status_code, reveal, answer_status),
            self.retried,
        )

    def _run_once(
        self,
        uow: UnitOfWork,
        body: BaseModel | None,
        call: Callable[[], BaseModel],
        status_code: int,
        reveal: Reveal | None,
        answer_status: Callable[[Any], int] | None = None,
    ) -> JSONResponse:
        if self.key is None:
            result = call()
            status = answer_status(result) if answer_status is not None else status_code
            return JSONResponse(result.model_dump(mode="json"), status_code=status)
        fingerprint = self.fingerprint(body)
        with uow:
            stored = uow.idempotency.claim(self.key, fingerprint, uow.clock())
            if stored is not None:
                if stored.fingerprint != fingerprint:
                    raise Invalid(
                        HEADER,
                        "was already used with a different request",
                        code="idempotency_key_reused",
                    )
                answer = stored.response
                if reveal is not None and stored.status_code < 400:
                    answer = reveal(answer)
                return _answer(stored.status_code, answer, replayed=True)
            content: dict[str, Any]
            try:
                answered = call()
                content = answered.model_dump(mode="json")
                status = answer_status(answered) if answer_status is not None else status_code
            except DomainError as error:
                status = status_of(error)
                if status not in STORED_STATUSES:
                    raise
                content = problem_body(status, error.code, error.message, **error.extra)
                # Kept with the answer: a replay is the first answer, its request id too
                # (the replay's own id is in its X-Request-Id header).
                content["request_id"] = request_id()
            kept = content if status >= 400 else _without_codes(content)  # problems: error codes
            uow.idempotency.store(self.key, status, kept)
            uow.commit()
        return _answer(status, content, replayed=False)


def _without_codes(content: dict[str, Any]) -> dict[str, Any]:
    return {k: (None if k in SHOWN_ONCE else v) for k, v in content.items()}


def _answer(status: int, content: Any, *, replayed: bool) -> JSONResponse:
    headers = {REPLAYED: "true" if replayed else "false"}
    if status >= 400:
        return JSONResponse(content, status_code=status, media_type=PROBLEM_JSON, headers=headers)
    return JSONResponse(content, status_code=status, headers=headers)


async def get_idempotency(
    request: Request,
    key: Annotated[
        str | None,
        Header(
            alias=HEADER,
            max_length=200,
            description="Any unique string; a retry with the same key returns the first answer",
        ),
    ] = None,
) -> Idempotency:
    container = request.app.state.container
    secret = container.code_secret if key else b""
    path = request.scope["path"]  # request.url would build a whole URL on every call
    retried = request.app.state.metrics.transactions_retried.inc
    return Idempotency(key or None, request.method, path, secret, retried)


IdempotencyDep = Annotated[Idempotency, Depends(get_idempotency)]


def _sqlstate(error: DBAPIError) -> str | None:
    state: str | None = getattr(error.orig, "sqlstate", None)
    return state
