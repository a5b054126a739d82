"""Campaigns: the list, a form to write one with a CEL editor that checks the condition as
it is typed (htmx posts it to the same check a save runs, and shows the line and column of
an error), a campaign's page with its figures, a simulation over sample events, and
activate / pause. Saved through the API's route functions."""

import json
import uuid
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from tessera.domain.campaigns import CampaignStatus
from tessera.domain.errors import Invalid
from tessera.domain.roles import Permission
from tessera.entrypoints.console.web import (
    FORM_ERRORS,
    PREFIX,
    ConsoleRoute,
    Form,
    Posted,
    Signed,
    SignedIn,
    field_errors,
    redirect,
    render,
)
from tessera.entrypoints.http import campaigns, voucher_types
from tessera.services.campaigns import check_condition_text

router = APIRouter(prefix=f"{PREFIX}/campaigns", route_class=ConsoleRoute, include_in_schema=False)
NAV = [("/campaigns", "Campaigns", "read")]

SAMPLE_EVENTS = [
    {"id": "sample-1", "subscriber": "31600000001", "type": "usage.data",
     "occurred_at": "2026-12-01T10:00:00Z", "attributes": {"mb": 250}},
    {"id": "sample-2", "subscriber": "31600000002", "type": "usage.data",
     "occurred_at": "2026-12-01T11:00:00Z", "attributes": {"mb": 20}},
]  # fmt: skip


def _list(
    request: Request, signed: Signed, cursor: str | None = None, *, status_code: int = 200,
    errors: dict[str, str] | None = None, values: dict[str, str] | None = None,
) -> Response:  # fmt: skip
    read = signed.uow(Permission.READ)
    types = voucher_types.list_voucher_types(read, limit=500, active=None).items
    return render(
        request, "campaigns.html", signed, status_code=status_code,
        page=campaigns.list_campaigns(read, cursor=cursor, limit=50),
        type_options=[("", "none")] + [(str(t.id), t.name) for t in types],
        may_manage=signed.can(Permission.MANAGE_CATALOG),
        errors=errors or {}, values=values or {"trigger_types": "usage.data"},
    )  # fmt: skip


@router.get("")
def campaign_list(request: Request, signed: SignedIn, cursor: str | None = None) -> Response:
    return _list(request, signed, cursor)


def _reward(posted: Posted) -> dict[str, Any]:
    fields = ("kind", "balance_type", "amount", "validity_days", "voucher_type_id")
    return {f: posted.text(f"rewards[0].{f}") for f in fields if posted.text(f"rewards[0].{f}")}


def _triggers(posted: Posted) -> list[str]:
    return [t.strip() for t in posted.text("trigger_types").split(",") if t.strip()]


@router.post("")
def create_campaign(request: Request, posted: Form) -> Response:
    signed = posted.signed
    uow = signed.uow(Permission.MANAGE_CATALOG)
    body: dict[str, Any] = {
        k: posted.text(k)
        for k in ("name", "condition", "priority", "currency", "cost_per_reward_minor")
        if posted.text(k)
    }
    caps = {k: posted.text(f"caps.{k}") for k in ("per_subscriber", "total_budget_minor")}
    body |= {
        "trigger_types": _triggers(posted),
        "rewards": [_reward(posted)],
        "caps": {k: v for k, v in caps.items() if v},
        "condition": posted.form.get("condition") or "",  # as typed: lines and columns count
    }
    try:
        created = campaigns.create_campaign(campaigns.CampaignIn(**body), uow)
    except FORM_ERRORS as exc:
        return _list(
            request, signed, status_code=422, errors=field_errors(exc), values=posted.values
        )
    return redirect(f"{PREFIX}/campaigns/{created.id}", done="created as a draft")


@router.post("/check")
def check(request: Request, posted: Form) -> Response:
    """The live check of the CEL editor: the same check a save runs, as a fragment."""
    condition = str(posted.form.get("condition") or "")
    trigger = (_triggers(posted) or [posted.text("trigger_type") or "usage.data"])[0]
    try:
        check_condition_text(posted.signed.uow(Permission.READ), condition, trigger)
        error = None
    except Invalid as exc:
        error = exc
    return render(request, "condition_check.html", posted.signed, error=error)


def _page(
    request: Request, signed: Signed, campaign_id: uuid.UUID, *, status_code: int = 200,
    **context: Any,
) -> Response:  # fmt: skip
    campaign = campaigns.get_campaign(campaign_id, signed.uow(Permission.READ))
    context.setdefault("values", {})
    context["values"].setdefault("condition", campaign.condition)
    context["values"].setdefault("events", json.dumps(SAMPLE_EVENTS, indent=2))
    return render(
        request, "campaign.html", signed, status_code=status_code, campaign=campaign,
        may_manage=signed.can(Permission.MANAGE_CATALOG),
        done=request.query_params.get("done"), **context,
    )  # fmt: skip


@router.get("/{campaign_id}")
def campaign_page(request: Request, campaign_id: uuid.UUID, signed: SignedIn) -> Response:
    return _page(request, signed, campaign_id)


@router.post("/{campaign_id}/condition")
def change_condition(request: Request, campaign_id: uuid.UUID, posted: Form) -> Response:
    signed = posted.signed
    uow = signed.uow(Permission.MANAGE_CATALOG)
    condition = str(posted.form.get("condition") or "")
    try:
        campaigns.update_campaign(campaign_id, campaigns.CampaignPatch(condition=condition), uow)
    except FORM_ERRORS as exc:
        return _page(
            request, signed, campaign_id, status_code=422, errors=field_errors(exc),
            values={"condition": condition},
        )  # fmt: skip
    return redirect(f"{PREFIX}/campaigns/{campaign_id}", done="condition saved")


@router.post("/{campaign_id}/status")
def change_status(request: Request, campaign_id: uuid.UUID, posted: Form) -> Response:
    signed = posted.signed
    uow = signed.uow(Permission.MANAGE_CATALOG)
    try:
        status = CampaignStatus(posted.text("status"))
        campaigns.update_campaign(campaign_id, campaigns.CampaignPatch(status=status), uow)
    except (ValueError, *FORM_ERRORS) as exc:
        errors = field_errors(exc) if isinstance(exc, FORM_ERRORS) else {"status": str(exc)}
        return _page(request, signed, campaign_id, status_code=422, errors=errors)
    return redirect(f"{PREFIX}/campaigns/{campaign_id}", done=f"now {status.value}")


@router.post("/{campaign_id}/simulate")
def simulate(request: Request, campaign_id: uuid.UUID, posted: Form) -> Response:
    """What the campaign would do with the sample events (the API's simulation: nothing is
    stored)."""
    signed = posted.signed
    uow = signed.uow(Permission.MANAGE_CATALOG)
    text = str(posted.form.get("events") or "")
    try:
        try:
            events = json.loads(text)
        except json.JSONDecodeError as exc:
            raise Invalid(
                "events", f"not JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}"
            ) from None
        result = campaigns.simulate(
            campaign_id, campaigns.SimulationIn(events=events), signed.container, uow
        )
    except FORM_ERRORS as exc:
        errors = field_errors(exc)
        shown = {
            "events": "; ".join(f"{k}: {v}" if k != "events" else v for k, v in errors.items())
        }
        return _page(
            request, signed, campaign_id, status_code=422, errors=shown, values={"events": text}
        )
    return _page(request, signed, campaign_id, simulation=result, values={"events": text})
