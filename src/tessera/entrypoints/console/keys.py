"""API keys, for admins only (the page and every action need manage_keys): the keys, a form
to make one (its value shown once), and revoke (which ends the key's console sessions)."""

import uuid

from fastapi import APIRouter, Request
from fastapi.responses import Response

from tessera.domain.roles import Permission, Role
from tessera.entrypoints.console.web import (
    FORM_ERRORS,
    PREFIX,
    ConsoleRoute,
    Form,
    Signed,
    SignedIn,
    field_errors,
    redirect,
    render,
)
from tessera.entrypoints.http import keys

router = APIRouter(prefix=f"{PREFIX}/keys", route_class=ConsoleRoute, include_in_schema=False)
NAV = [("/keys", "Keys", "manage_keys")]


def _index(
    request: Request, signed: Signed, *, status_code: int = 200,
    errors: dict[str, str] | None = None, values: dict[str, str] | None = None,
    created: keys.NewKeyOut | None = None, cursor: str | None = None,
) -> Response:  # fmt: skip
    page = keys.list_keys(signed.uow(Permission.MANAGE_KEYS), cursor=cursor, limit=100)
    return render(
        request, "keys.html", signed, status_code=status_code, page=page, created=created,
        roles=[r.value for r in Role], done=request.query_params.get("done"),
        errors=errors or {}, values=values or {},
    )  # fmt: skip


@router.get("")
def key_index(request: Request, signed: SignedIn, cursor: str | None = None) -> Response:
    return _index(request, signed, cursor=cursor)


@router.post("")
def create_key(request: Request, posted: Form) -> Response:
    signed = posted.signed
    uow = signed.uow(Permission.MANAGE_KEYS)
    try:
        body = keys.KeyIn(name=posted.text("name"), role=posted.text("role"))
        created = keys.create_key(body, uow)
    except FORM_ERRORS as exc:
        return _index(
            request, signed, status_code=422, errors=field_errors(exc), values=posted.values
        )
    return _index(request, signed, created=created)


@router.post("/{key_id}/revoke")
def revoke(key_id: uuid.UUID, posted: Form) -> Response:
    revoked = keys.revoke_key(key_id, posted.signed.uow(Permission.MANAGE_KEYS))
    return redirect(f"{PREFIX}/keys", done=f"revoked {revoked.name}")
