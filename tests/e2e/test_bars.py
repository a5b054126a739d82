"""Bars that fit a shop: wrong codes bar the subscriber presenting them, a till's key only at
its own higher threshold, a mistyped code bars nobody, and an operator lists and lifts bars."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime

import pytest

from helpers import auth
from tessera.domain.codes import generate_codes
from tessera.domain.roles import Role
from tessera.services.issuing import DEFAULT_FORMAT
from tessera.services.tenants import create_key, create_tenant
from vouchering import issue, make_type


@pytest.fixture
def till(container, tenant):
    tid, admin = tenant
    _k, pos = create_key(container.uow(tid), "till", Role.POS)
    return tid, admin, pos, make_type(container, tid)


def redeem(api, key, code, subscriber):
    body = {"code": code, "subscriber": subscriber}
    return api.post("/v1/vouchers/redeem", json=body, headers=auth(key))


def guess(api, key, subscriber, count):
    for unknown in generate_codes(DEFAULT_FORMAT, count):
        r = redeem(api, key, unknown, subscriber)
        assert r.status_code in (404, 429), r.text


def _typo(code: str) -> str:
    digit = "3" if code[-2] != "3" else "4"
    return code[:-2] + digit + code[-1]


def test_a_guessing_subscriber_is_barred_and_the_till_serves_the_next_customer(
    api, container, till
):
    tid, _admin, pos, type_id = till
    guess(api, pos, "254700000001", container.settings.bar_threshold)
    _v, theirs = issue(container, tid, type_id)
    barred = redeem(api, pos, theirs, "254700000001")
    assert barred.status_code == 429 and barred.json()["code"] == "too_many_attempts"
    _v, next_customers = issue(container, tid, type_id)
    served = redeem(api, pos, next_customers, "254700000002")
    assert served.status_code == 200, served.text


def test_the_tills_key_is_barred_only_at_its_own_threshold(api, container, till):
    tid, _admin, pos, type_id = till
    key_threshold = container.settings.bar_key_threshold
    assert key_threshold > container.settings.bar_threshold
    for n in range(key_threshold - 1):  # one wrong code from each of many customers
        guess(api, pos, f"2547100{n:05d}", 1)
    _v, code = issue(container, tid, type_id)
    assert redeem(api, pos, code, "254799999990").status_code == 200
    guess(api, pos, "254799999991", 1)  # the key's threshold: the key is barred
    _v, code = issue(container, tid, type_id)
    barred = redeem(api, pos, code, "254799999992")
    assert barred.status_code == 429


def test_a_mistyped_code_says_so_and_counts_towards_no_bar(api, container, till):
    tid, _admin, pos, type_id = till
    _v, code = issue(container, tid, type_id)
    for _ in range(container.settings.bar_threshold * 2):
        r = redeem(api, pos, _typo(code), "254700000003")
        assert r.status_code == 422, r.text
        assert (r.json()["code"], r.json()["field"]) == ("code_mistyped", "code")
        assert "mistyped" in r.json()["detail"]
    checked = api.post("/v1/vouchers/validate", json={"code": _typo(code)}, headers=auth(pos))
    assert checked.status_code == 422 and checked.json()["code"] == "code_mistyped"
    assert redeem(api, pos, code, "254700000003").status_code == 200


def test_an_operator_lists_the_active_bars_and_lifts_one_on_the_record(api, container, till):
    tid, admin, pos, type_id = till
    guess(api, pos, "254700000004", container.settings.bar_threshold)
    assert api.get("/v1/bars", headers=auth(pos)).status_code == 403
    (bar,) = api.get("/v1/bars", headers=auth(admin)).json()["items"]
    assert (bar["kind"], bar["subject"]) == ("subscriber", "254700000004")
    lifted = api.post(
        f"/v1/bars/{bar['scope']}/lift",
        json={"reason": "customer vouched for"},
        headers=auth(admin),
    )
    assert lifted.status_code == 200, lifted.text
    assert api.get("/v1/bars", headers=auth(admin)).json()["items"] == []
    _v, code = issue(container, tid, type_id)
    assert redeem(api, pos, code, "254700000004").status_code == 200
    again = api.post(f"/v1/bars/{bar['scope']}/lift", headers=auth(admin))
    assert again.status_code == 404 and again.json()["code"] == "bar_not_found"
    params = {"operation": "voucher.bar_lift"}
    (edr,) = api.get("/v1/edrs", params=params, headers=auth(admin)).json()["items"]
    assert edr["subject_id"] == bar["scope"] and edr["details"]["reason"] == "customer vouched for"


def test_another_tenants_bars_are_neither_seen_nor_lifted(api, container, till, make_tenant):
    _tid, _admin, pos, _type_id = till
    guess(api, pos, "254700000005", container.settings.bar_threshold)
    _other, stranger = make_tenant()
    assert api.get("/v1/bars", headers=auth(stranger)).json()["items"] == []
    foreign = api.post("/v1/bars/subscriber:254700000005/lift", headers=auth(stranger))
    assert foreign.status_code == 404
    bad = api.post("/v1/bars/nobody/lift", headers=auth(stranger))
    assert bad.status_code == 422 and bad.json()["field"] == "scope"


def test_an_operator_lists_and_lifts_bars_from_the_terminal(api, container, database_url, clock):
    clock.now = datetime.now(UTC)  # the CLI runs on the real clock
    name = f"shop-{uuid.uuid4().hex[:8]}"
    tenant, _admin = create_tenant(container.directory(), name)
    _k, pos = create_key(container.uow(tenant.id), "till", Role.POS)
    make_type(container, tenant.id)
    guess(api, pos, "254700000006", container.settings.bar_threshold)
    env = {
        **os.environ,
        "TESSERA_DATABASE_URL": database_url,
        "TESSERA_CODE_SECRET": "cli-test-secret",
        "TESSERA_LOG_LEVEL": "warning",
    }

    def tessera(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "tessera.entrypoints.cli", *args],
            env=env, capture_output=True, text=True, timeout=60,
        )  # fmt: skip

    listed = tessera("bar", "list", "--tenant", name, "--format", "json")
    assert listed.returncode == 0, listed.stderr
    (bar,) = json.loads(listed.stdout)["items"]
    assert bar["scope"] == "subscriber:254700000006"
    lifted = tessera("bar", "lift", bar["scope"], "--tenant", name, "--reason", "vouched")
    assert lifted.returncode == 0, lifted.stderr
    again = tessera("bar", "lift", bar["scope"], "--tenant", name)
    assert again.returncode == 2 and "bar_not_found" in again.stderr
    assert "Traceback" not in again.stderr
