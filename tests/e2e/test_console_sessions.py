"""Console sign-in: an API key exchanged for a session cookie that is HttpOnly, SameSite=Strict,
expiring, stored only as a hash, and ended by sign-out or by revoking the key; CSRF on every
form; the key's role decides what the server allows."""

from __future__ import annotations

import hashlib

import sqlalchemy as sa

from consoling import csrf_of, sign_in
from helpers import auth
from tessera.adapters.db import tables as t


def test_root_redirects_to_the_console(api):
    answer = api.get("/", follow_redirects=False)
    assert answer.status_code == 307
    assert answer.headers["location"] == "/console"


def test_a_page_without_a_session_sends_the_browser_to_sign_in(api):
    answer = api.get("/console/vouchers", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/console/sign-in?next=/console/vouchers"


def test_sign_in_sets_an_httponly_strict_expiring_cookie_stored_only_as_a_hash(
    api, tenant, container
):
    _tenant_id, key = tenant
    form = api.get("/console/sign-in")
    answer = api.post(
        "/console/sign-in",
        data={"key": key, "csrf": csrf_of(form.text), "next": "/console"},
        follow_redirects=False,
    )
    assert answer.status_code == 303
    cookie = next(c for c in answer.headers.get_list("set-cookie") if "tessera_session=" in c)
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie
    assert "Max-Age=28800" in cookie
    assert "Secure" not in cookie  # plain http here; https sets it (next test)
    token = api.cookies["tessera_session"]
    with container.engine.connect() as conn:
        stored = conn.execute(sa.select(t.console_sessions.c.token_hash)).scalars().all()
    assert hashlib.sha256(token.encode()).hexdigest() in stored
    assert token not in stored


def test_sign_in_over_https_sets_a_secure_cookie(container, tenant):
    from fastapi.testclient import TestClient

    from tessera.entrypoints.http.app import create_app

    _tenant_id, key = tenant
    with TestClient(create_app(container), base_url="https://console.test") as client:
        form = client.get("/console/sign-in")
        answer = client.post(
            "/console/sign-in",
            data={"key": key, "csrf": csrf_of(form.text)},
            follow_redirects=False,
        )
    cookie = next(c for c in answer.headers.get_list("set-cookie") if "tessera_session=" in c)
    assert "Secure" in cookie


def test_a_wrong_key_is_refused_next_to_the_key_field(api):
    form = api.get("/console/sign-in")
    answer = api.post("/console/sign-in", data={"key": "tsk_nope", "csrf": csrf_of(form.text)})
    assert answer.status_code == 401
    assert 'id="e-key"' in answer.text
    assert "unknown or revoked" in answer.text
    assert "tessera_session" not in api.cookies


def test_sign_in_without_its_csrf_token_is_refused(api, tenant):
    _tenant_id, key = tenant
    api.get("/console/sign-in")
    answer = api.post("/console/sign-in", data={"key": key, "csrf": "forged"})
    assert answer.status_code == 403
    assert "tessera_session" not in api.cookies


def test_a_form_posted_without_its_csrf_token_is_refused(api, tenant):
    _tenant_id, key = tenant
    sign_in(api, key)
    answer = api.post("/console/sign-out", data={}, follow_redirects=False)
    assert answer.status_code == 403
    assert "CSRF" in answer.text
    assert api.get("/console", follow_redirects=False).status_code == 200  # still signed in


def test_sign_out_ends_the_session_on_the_server(api, tenant):
    _tenant_id, key = tenant
    csrf = sign_in(api, key)
    token = api.cookies["tessera_session"]
    answer = api.post("/console/sign-out", data={"csrf": csrf}, follow_redirects=False)
    assert answer.status_code == 303
    api.cookies.set("tessera_session", token, path="/console")  # a copy of the old cookie
    assert api.get("/console", follow_redirects=False).status_code == 303


def test_revoking_the_key_ends_its_session(api, tenant):
    _tenant_id, admin_key = tenant
    made = api.post(
        "/v1/keys", json={"name": "care desk", "role": "operator"}, headers=auth(admin_key)
    ).json()
    sign_in(api, made["key"])
    assert api.get("/console", follow_redirects=False).status_code == 200
    api.delete(f"/v1/keys/{made['id']}", headers=auth(admin_key))
    assert api.get("/console", follow_redirects=False).status_code == 303


def test_a_session_expires(api, tenant, clock):
    _tenant_id, key = tenant
    sign_in(api, key)
    clock.advance(minutes=479)
    assert api.get("/console", follow_redirects=False).status_code == 200
    clock.advance(minutes=2)
    assert api.get("/console", follow_redirects=False).status_code == 303


def test_an_auditor_sees_no_write_action_and_a_forged_post_is_refused(api, tenant, container):
    tenant_id, admin_key = tenant
    from vouchering import issue, make_type

    voucher, _code = issue(container, tenant_id, make_type(container, tenant_id))
    auditor = api.post(
        "/v1/keys", json={"name": "audit", "role": "auditor"}, headers=auth(admin_key)
    ).json()["key"]
    csrf = sign_in(api, auditor)
    page = api.get(f"/console/vouchers?serial={voucher.serial}")
    assert page.status_code == 200
    assert "Voucher " + str(voucher.serial) in page.text
    assert "data-action=" not in page.text  # no reissue / cancel / close buttons
    forged = api.post(f"/console/vouchers/{voucher.serial}/close", data={"csrf": csrf})
    assert forged.status_code == 403
    assert "may not operate vouchers" in forged.text
    still = api.get(f"/v1/vouchers/{voucher.serial}", headers=auth(admin_key)).json()
    assert still["status"] == "available"


def test_another_tenants_session_cannot_see_a_voucher(api, make_tenant, container):
    from vouchering import issue, make_type

    owner, _owner_key = make_tenant()
    _other, other_key = make_tenant()
    voucher, _code = issue(container, owner, make_type(container, owner))
    sign_in(api, other_key)
    page = api.get(f"/console/vouchers?serial={voucher.serial}")
    assert page.status_code == 404
    assert "no voucher has it" in page.text
