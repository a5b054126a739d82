"""Tenants and their API keys.

A key is 32 random bytes, so a plain SHA-256 of it cannot be brute-forced; a slow password
hash would only add latency to every request. Only the hash and a short display prefix are kept.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime

from tessera.domain.errors import Conflict, Invalid
from tessera.domain.roles import Role

KEY_PREFIX = "tsk_"


@dataclass(frozen=True, slots=True)
class Tenant:
    id: uuid.UUID
    name: str
    created_at: datetime
    host_id: uuid.UUID | None = None  # a brand's host operator; None: not a brand
    suspended_at: datetime | None = None  # a suspended tenant's keys are refused

    @property
    def is_brand(self) -> bool:
        return self.host_id is not None


def may_host_brands(tenant: Tenant) -> None:
    """A group is one level deep: a host and its brands; a brand hosts none."""
    if tenant.is_brand:
        raise Conflict("a brand cannot host brands of its own", code="brand_cannot_host")


@dataclass(frozen=True, slots=True)
class ApiKey:
    id: uuid.UUID
    tenant_id: uuid.UUID
    name: str
    role: Role
    display_prefix: str
    created_at: datetime
    revoked_at: datetime | None = None
    list_ids: frozenset[uuid.UUID] | None = None  # a partner key's lists
    tenant_suspended: bool = False  # its tenant (a brand) is suspended: the key is refused
    receives_shares: bool = False  # other tenants of its group share voucher types with it

    @property
    def active(self) -> bool:
        return self.revoked_at is None


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is asking: resolved from the bearer key before any use case runs."""

    tenant_id: uuid.UUID
    key_id: uuid.UUID | None
    role: Role
    list_ids: frozenset[uuid.UUID] | None = None  # a partner key's lists (roles.reaches_list)
    receives_shares: bool = False  # marketplace types are shared with its tenant


def new_plain_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_key(plain: str) -> str:
    return hashlib.sha256(plain.encode()).hexdigest()


def display_prefix(plain: str) -> str:
    return plain[: len(KEY_PREFIX) + 6]


def validate_name(name: str, field: str = "name", max_length: int = 200) -> str:
    cleaned = name.strip()
    if not cleaned:
        raise Invalid(field, "must not be empty")
    if len(cleaned) > max_length:
        raise Invalid(field, f"must be at most {max_length} characters")
    return cleaned
