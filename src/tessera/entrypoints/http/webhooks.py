"""Webhook endpoints: where a tenant's notifications are delivered, signed with its secret."""

from __future__ import annotations

import uuid
from datetime import datetime

from fastapi import APIRouter, status
from pydantic import BaseModel, Field

from tessera.domain.notifications import WebhookEndpoint
from tessera.entrypoints.http.deps import CatalogManager, ContainerDep, Reader
from tessera.entrypoints.http.pagination import Cursor, Limit, PageOut
from tessera.services import notifications

router = APIRouter(prefix="/v1/webhooks", tags=["notifications"])


class EndpointIn(BaseModel):
    url: str = Field(max_length=2000, examples=["https://crm.example.com/hooks/tessera"])
    event_types: list[str] = Field(min_length=1, examples=[["voucher.rewarded"]])
    secret: str | None = Field(
        None, min_length=16, max_length=200, description="Signing secret; one is made if absent"
    )


class EndpointPatch(BaseModel):
    url: str | None = Field(None, max_length=2000)
    event_types: list[str] | None = Field(None, min_length=1)
    active: bool | None = None


class EndpointOut(BaseModel):
    id: uuid.UUID
    url: str
    event_types: list[str]
    active: bool
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, e: WebhookEndpoint) -> EndpointOut:
        return cls(
            id=e.id,
            url=e.url,
            event_types=list(e.event_types),
            active=e.active,
            created_at=e.created_at,
            updated_at=e.updated_at,
        )


class NewEndpointOut(EndpointOut):
    secret: str = Field(description="The signing secret. It is shown only in this answer.")


@router.post("", status_code=status.HTTP_201_CREATED)
def create_endpoint(
    body: EndpointIn, uow: CatalogManager, container: ContainerDep
) -> NewEndpointOut:
    """Deliveries carry `Tessera-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, "t.body")>`.
    The URL must be https to a public address, unless its network is in
    `TESSERA_WEBHOOK_ALLOWED_NETWORKS`; it is checked again before every delivery."""
    endpoint, secret = notifications.create_endpoint(
        uow, container.webhook_targets, body.url, body.event_types, body.secret
    )
    return NewEndpointOut(**EndpointOut.of(endpoint).model_dump(), secret=secret)


@router.get("")
def list_endpoints(uow: Reader, cursor: Cursor = None, limit: Limit = 100) -> PageOut[EndpointOut]:
    page = notifications.list_endpoints(uow, cursor, limit)
    return PageOut(items=[EndpointOut.of(e) for e in page.items], next_cursor=page.next_cursor)


@router.get("/{endpoint_id}")
def get_endpoint(endpoint_id: uuid.UUID, uow: Reader) -> EndpointOut:
    return EndpointOut.of(notifications.get_endpoint(uow, endpoint_id))


@router.patch("/{endpoint_id}")
def update_endpoint(
    endpoint_id: uuid.UUID, body: EndpointPatch, uow: CatalogManager, container: ContainerDep
) -> EndpointOut:
    changes = body.model_dump(exclude_unset=True)
    targets = container.webhook_targets
    return EndpointOut.of(notifications.update_endpoint(uow, targets, endpoint_id, changes))


@router.delete("/{endpoint_id}")
def disable_endpoint(
    endpoint_id: uuid.UUID, uow: CatalogManager, container: ContainerDep
) -> EndpointOut:
    """Endpoints are disabled, not deleted: their delivery log stays readable."""
    targets = container.webhook_targets
    return EndpointOut.of(
        notifications.update_endpoint(uow, targets, endpoint_id, {"active": False})
    )
