"""Console sign-in and sign-out: an API key is exchanged for a session that expires and that
ends as soon as its key is revoked (the lookup checks both in the database)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from tessera.adapters.db.unit_of_work import DirectoryUnitOfWork
from tessera.domain.errors import Unauthenticated
from tessera.domain.sessions import hash_session_token, new_session_token
from tessera.domain.tenants import ApiKey, Caller
from tessera.services.tenants import authenticate


@dataclass(frozen=True, slots=True)
class Session:
    caller: Caller
    key: ApiKey
    expires_at: datetime


def sign_in(
    directory: DirectoryUnitOfWork, plain_key: str, lifetime: timedelta
) -> tuple[str, Session]:
    """A new session for a valid key; the plain token exists only in the return value."""
    caller = authenticate(directory, plain_key.strip())
    token = new_session_token()
    with directory:
        now = directory.clock()
        directory.sessions.end_expired(now)  # sign-ins sweep what has lapsed
        assert caller.key_id is not None
        found = directory.tenants.key_of(caller.key_id)
        if found is None or not found.active or found.tenant_suspended:  # revoked in between
            raise Unauthenticated("the API key is unknown or revoked", code="key_invalid")
        expires_at = now + lifetime
        directory.sessions.add(hash_session_token(token), found, now, expires_at)
        directory.commit()
    return token, Session(caller, found, expires_at)


def session_of(directory: DirectoryUnitOfWork, token: str | None) -> Session:
    """The live session of ``token``; Unauthenticated when it is missing, unknown, expired or
    its key revoked."""
    if not token:
        raise Unauthenticated("sign in with an API key", code="session_missing")
    with directory:
        found = directory.sessions.find(hash_session_token(token), directory.clock())
    if found is None:
        raise Unauthenticated(
            "the session has ended (signed out, expired or its key revoked)",
            code="session_ended",
        )
    key, expires_at = found
    return Session(Caller(key.tenant_id, key.id, key.role, key.list_ids), key, expires_at)


def sign_out(directory: DirectoryUnitOfWork, token: str | None) -> None:
    if not token:
        return
    with directory:
        directory.sessions.end(hash_session_token(token))
        directory.commit()
