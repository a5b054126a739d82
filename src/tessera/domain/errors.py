"""Domain errors: values with a stable ``code`` that HTTP, the CLI and EDRs all show.

Each kind maps to one HTTP status in ``entrypoints/http/problems.py``; nothing here knows HTTP.
"""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """Base of every rule the domain refuses; ``code`` is stable and machine-readable."""

    code: str = "domain_error"

    def __init__(self, message: str, *, code: str | None = None, **extra: Any) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.extra = extra


class NotFound(DomainError):
    code = "not_found"


class Invalid(DomainError):
    """Bad input: names the field and the reason."""

    code = "invalid"

    def __init__(self, field: str, reason: str, *, code: str | None = None, **extra: Any) -> None:
        super().__init__(f"{field}: {reason}", code=code, field=field, reason=reason, **extra)
        self.field = field
        self.reason = reason


class Conflict(DomainError):
    """The request is well-formed but clashes with the current state (a name taken, a status)."""

    code = "conflict"


class Unauthenticated(DomainError):
    code = "unauthenticated"


class Forbidden(DomainError):
    code = "forbidden"


class TooManyAttempts(DomainError):
    code = "too_many_attempts"


class Gone(DomainError):
    code = "gone"


class Unavailable(DomainError):
    """Something the service needs is missing (a setting): not the caller's fault."""

    code = "unavailable"


def refuse_nulls(changes: dict[str, Any], nullable: frozenset[str] = frozenset()) -> None:
    """A partial update: null clears only the fields that may be empty; elsewhere it is a
    mistake, refused naming the field (leaving the field out keeps its value)."""
    for field, value in changes.items():
        if value is None and field not in nullable:
            raise Invalid(field, "must not be null (leave it out to keep the current value)")
