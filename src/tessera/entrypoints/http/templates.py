"""Message templates per event type and language (Jinja2, sandboxed)."""

from __future__ import annotations

import uuid
from datetime import datetime

from fastapi import APIRouter, Response, status
from pydantic import BaseModel, Field

from tessera.domain.notifications import EVENT_DETAILS, MessageTemplate
from tessera.entrypoints.http.deps import CatalogManager, Reader
from tessera.entrypoints.http.pagination import Cursor, Limit, PageOut
from tessera.services import notifications

router = APIRouter(prefix="/v1/templates", tags=["notifications"])


class TemplateIn(BaseModel):
    body: str = Field(
        max_length=10_000,
        examples=["Your {{ partner }} voucher {{ code }} is valid until {{ expiry }}"],
    )


class TemplateOut(BaseModel):
    id: uuid.UUID
    event_type: str
    language: str
    body: str
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, t: MessageTemplate) -> TemplateOut:
        return cls(
            id=t.id,
            event_type=t.event_type,
            language=t.language,
            body=t.body,
            created_at=t.created_at,
            updated_at=t.updated_at,
        )


@router.get("/events")
def event_details() -> dict[str, list[str]]:
    """The details each event carries: the names a template may use."""
    return {event: sorted(names) for event, names in sorted(EVENT_DETAILS.items())}


@router.put("/{event_type}/{language}")
def save_template(
    event_type: str, language: str, body: TemplateIn, uow: CatalogManager, response: Response
) -> TemplateOut:
    """Refused (422, with the line and the reason) if it does not compile or uses a name the
    event does not carry."""
    template, created = notifications.save_template(uow, event_type, language, body.body)
    response.status_code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
    return TemplateOut.of(template)


@router.get("")
def list_templates(
    uow: Reader, event_type: str | None = None, cursor: Cursor = None, limit: Limit = 100
) -> PageOut[TemplateOut]:
    page = notifications.list_templates(uow, cursor, limit, event_type)
    return PageOut(items=[TemplateOut.of(t) for t in page.items], next_cursor=page.next_cursor)


@router.get("/{event_type}/{language}")
def get_template(event_type: str, language: str, uow: Reader) -> TemplateOut:
    return TemplateOut.of(notifications.get_template(uow, event_type, language))


@router.delete("/{event_type}/{language}", status_code=status.HTTP_204_NO_CONTENT)
def delete_template(event_type: str, language: str, uow: CatalogManager) -> None:
    notifications.delete_template(uow, event_type, language)
