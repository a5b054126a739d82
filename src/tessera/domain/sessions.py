"""Console sessions: an API key exchanged for a random session token held in a cookie.

The store keeps only the token's SHA-256 (like a key's: 32 random bytes need no slow hash).
The CSRF token of a session is derived from the session token (an HMAC under it), so a page
can carry it without anything more being stored, and nobody without the cookie can make it.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

SESSION_PREFIX = "tss_"


def new_session_token() -> str:
    return SESSION_PREFIX + secrets.token_urlsafe(32)


def hash_session_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def csrf_token(session_token: str) -> str:
    return hmac.new(session_token.encode(), b"tessera-console-csrf", hashlib.sha256).hexdigest()


def csrf_matches(session_token: str, presented: str | None) -> bool:
    return presented is not None and hmac.compare_digest(csrf_token(session_token), presented)
