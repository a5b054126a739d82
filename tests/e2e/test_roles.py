"""Roles that fit (issue 15 item 2): a till does what a till needs, a partner reaches only its
own lists, no key but the tenant's webhook ever sees a partner code, the last admin key
stays; and the README's role table says what domain/roles.py grants."""

import re
import threading
from pathlib import Path

import pytest

from helpers import auth
from tessera.domain.roles import GRANTS, Role
from tessera.services.dispatch import dispatch_once
from vouchering import issue, make_type
from webhook_receiver import Receiver

README = Path(__file__).resolve().parents[2] / "README.md"
A = "254700000501"
CODE = "JAVA-4417-SECRET"  # a partner's code: it must reach no key


def key(api, admin, role, **extra):
    made = api.post("/v1/keys", json={"name": role, "role": role, **extra}, headers=auth(admin))
    assert made.status_code == 201, made.text
    return made.json()


def test_the_readme_role_table_says_what_roles_py_grants():
    text = README.read_text(encoding="utf-8")
    start = text.index("| role | may |")
    rows = {}
    for line in (row.strip() for row in text[start:].splitlines()[2:]):
        if not line.startswith("|"):
            break
        role, may = (cell.strip() for cell in line.strip("|").split("|")[:2])
        rows[role.strip("`")] = set(re.findall(r"`(\w+)`", may))
    assert rows == {r.value: {p.value for p in GRANTS[r]} for r in Role}


def test_a_pos_key_works_by_code_and_reads_one_wallet_and_nothing_else(api, container, tenant):
    tenant_id, admin = tenant
    pos = auth(key(api, admin, "pos")["key"])
    _voucher, code = issue(container, tenant_id, make_type(container, tenant_id))
    assert api.post("/v1/vouchers/validate", json={"code": code}, headers=pos).status_code == 200
    redeemed = api.post("/v1/vouchers/redeem", json={"code": code, "subscriber": A}, headers=pos)
    assert redeemed.status_code == 200, redeemed.text
    wallet = api.get(f"/v1/subscribers/{A}/wallet", headers=pos)
    assert wallet.status_code == 200 and wallet.json()["totals"] == {"data_mb": 500}
    listed = api.post("/v1/voucher-lists", json={"partner": "P", "name": "L"}, headers=auth(admin))
    refused = [
        ("get", "/v1/subscribers", None),
        ("get", f"/v1/subscribers/{A}", None),
        ("get", f"/v1/subscribers/{A}/history", None),
        ("get", "/v1/edrs", None),
        ("get", "/v1/vouchers", None),
        ("get", f"/v1/vouchers/{redeemed.json()['voucher']['serial']}", None),
        ("get", "/v1/voucher-lists", None),
        ("get", f"/v1/voucher-lists/{listed.json()['id']}", None),
        ("post", f"/v1/voucher-lists/{listed.json()['id']}/redemptions", {"codes": ["X"]}),
        ("get", "/v1/notifications", None),
        ("get", "/v1/rewards", None),
        ("get", "/v1/settlement?since=2026-11-01T00:00:00Z&until=2026-12-01T00:00:00Z", None),
    ]
    for method, path, body in refused:
        answer = api.request(method, path, json=body, headers=pos)
        assert answer.status_code == 403, (path, answer.status_code)
        assert answer.json()["code"] == "forbidden"


def _lists_and_settlement(api, admin):
    """Two partners' lists with codes, and a campaign funded by each that rewarded A."""
    h = auth(admin)
    made = {}
    for partner, name, codes in (("Java House", "Coffee", "J-1\nJ-2\n"),
                                 ("CinemaCo", "Tickets", "C-1\nC-2\n")):  # fmt: skip
        vl = api.post("/v1/voucher-lists", json={"partner": partner, "name": name}, headers=h)
        assert vl.status_code == 201, vl.text
        made[partner] = vl.json()["id"]
        api.post(f"/v1/voucher-lists/{made[partner]}/codes", content=f"code\n{codes}", headers=h)
        campaign = {
            "name": f"{partner} bonus",
            "trigger_types": ["usage.data"],
            "condition": "true",
            "rewards": [{"kind": "credit_bucket", "balance_type": "sms", "amount": 1}],
            "status": "active",
            "funding_partner": partner,
            "cost_per_reward_minor": 10,
            "currency": "EUR",
        }
        assert api.post("/v1/campaigns", json=campaign, headers=h).status_code == 201
    event = {"id": "e1", "subscriber": A, "type": "usage.data",
             "occurred_at": "2026-11-23T10:00:00Z", "attributes": {}}  # fmt: skip
    assert len(api.post("/v1/events", json=event, headers=h).json()["results"][0]["rewards"]) == 2
    for list_id in made.values():
        given = api.post(
            "/v1/distributions", json={"list_ids": [list_id], "subscriber": A}, headers=h
        )
        assert given.status_code in (200, 201), given.text
    return made


WINDOW = "since=2026-11-01T00:00:00Z&until=2026-12-01T00:00:00Z"


def test_a_partner_key_reports_and_reads_its_own_lists_only(api, tenant):
    _tenant_id, admin = tenant
    lists = _lists_and_settlement(api, admin)
    java, cinema = lists["Java House"], lists["CinemaCo"]
    made = key(api, admin, "partner", list_ids=[java])
    assert made["list_ids"] == [java]
    partner = auth(made["key"])
    reported = api.post(
        f"/v1/voucher-lists/{java}/redemptions", json={"codes": ["J-1"]}, headers=partner
    )
    assert reported.status_code == 200, reported.text
    seen = api.get(f"/v1/voucher-lists/{java}", headers=partner)
    assert seen.status_code == 200 and seen.json()["utilization"]["redeemed"] == 1
    for method, path, body in (
        ("post", f"/v1/voucher-lists/{cinema}/redemptions", {"codes": ["C-1"]}),
        ("get", f"/v1/voucher-lists/{cinema}", None),
    ):
        foreign = api.request(method, path, json=body, headers=partner)
        unknown = api.request(
            method, path.replace(cinema, "01a20000-0000-7000-8000-00000000dead"), json=body,
            headers=partner,
        )  # fmt: skip
        assert foreign.status_code == unknown.status_code == 404, foreign.text
        assert foreign.json()["code"] == unknown.json()["code"] == "list_not_found"
    assert api.get(f"/v1/voucher-lists/{cinema}", headers=auth(admin)).json()["utilization"][
        "redeemed"
    ] == 0  # fmt: skip
    everyone = api.get(f"/v1/settlement?{WINDOW}", headers=auth(admin)).json()
    assert {row["partner"] for row in everyone} == {"Java House", "CinemaCo"}
    own = api.get(f"/v1/settlement?{WINDOW}", headers=partner).json()
    assert {row["partner"] for row in own} == {"Java House"}
    other = api.get(f"/v1/settlement?{WINDOW}&partner=CinemaCo", headers=partner).json()
    assert other == []
    for method, path in (("get", "/v1/voucher-lists"), ("get", "/v1/vouchers"),
                         ("get", "/v1/edrs"), ("get", f"/v1/subscribers/{A}/wallet"),
                         ("get", "/v1/notifications"), ("post", "/v1/distributions"),
                         ("post", "/v1/events"), ("get", "/v1/rewards")):  # fmt: skip
        assert api.request(method, path, json={}, headers=partner).status_code == 403, path


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"role": "partner"}, "names the voucher lists"),
        ({"role": "partner", "list_ids": []}, "names the voucher lists"),
        ({"role": "partner", "list_ids": ["01a20000-0000-7000-8000-00000000dead"]}, "no voucher"),
        ({"role": "pos", "list_ids": ["01a20000-0000-7000-8000-00000000dead"]}, "only a partner"),
    ],
)
def test_a_partner_key_names_lists_of_its_tenant_and_no_other_key_names_any(
    api, tenant, body, reason
):
    answer = api.post("/v1/keys", json={"name": "k", **body}, headers=auth(tenant[1]))
    assert answer.status_code == 422, answer.text
    assert answer.json()["field"] == "list_ids" and reason in answer.json()["reason"]


def test_a_partner_key_cannot_name_another_tenants_list(api, make_tenant):
    (_, admin_a), (_, admin_b) = make_tenant(), make_tenant()
    theirs = api.post(
        "/v1/voucher-lists", json={"partner": "P", "name": "L"}, headers=auth(admin_a)
    ).json()
    answer = api.post(
        "/v1/keys",
        json={"name": "k", "role": "partner", "list_ids": [theirs["id"]]},
        headers=auth(admin_b),
    )
    assert answer.status_code == 422 and answer.json()["field"] == "list_ids"


def test_no_key_but_the_tenants_webhook_sees_a_partner_code(api, container, tenant):
    _tenant_id, admin = tenant
    h = auth(admin)
    with Receiver() as receiver:
        vl = api.post(
            "/v1/voucher-lists", json={"partner": "Java House", "name": "Coffee"}, headers=h
        ).json()
        api.post(f"/v1/voucher-lists/{vl['id']}/codes", content=f"code\n{CODE}\n", headers=h)
        hook = {"url": receiver.url, "event_types": ["voucher.rewarded"]}
        assert api.post("/v1/webhooks", json=hook, headers=h).status_code == 201
        template = {"body": "Your code: {{ code }} from {{ list }}"}
        assert api.put("/v1/templates/voucher.rewarded/en", json=template, headers=h).status_code
        campaign = {
            "name": "Coffee on us",
            "trigger_types": ["usage.data"],
            "condition": "true",
            "rewards": [{"kind": "list_code", "list_ids": [vl["id"]]}],
            "status": "active",
        }
        assert api.post("/v1/campaigns", json=campaign, headers=h).status_code == 201
        event = {"id": "e1", "subscriber": A, "type": "usage.data",
                 "occurred_at": "2026-11-23T10:00:00Z", "attributes": {}}  # fmt: skip
        answered = api.post("/v1/events", json=event, headers=h)
        assert answered.status_code == 200 and answered.json()["results"][0]["rewards"]
        assert CODE not in answered.text  # the key that sent the event is not told the code
        keys = {role: key(api, admin, role)["key"] for role in ("operator", "auditor", "pos")}
        keys["admin"] = admin
        keys["partner"] = key(api, admin, "partner", list_ids=[vl["id"]])["key"]
        queued = api.get("/v1/notifications", headers=h).json()["items"]
        assert queued
        reads = [
            "/v1/notifications",
            f"/v1/notifications/{queued[0]['id']}",
            "/v1/edrs",
            "/v1/rewards",
            f"/v1/subscribers/{A}/history",
            f"/v1/subscribers/{A}/wallet",
            f"/v1/voucher-lists/{vl['id']}",
            f"/v1/settlement?{WINDOW}",
        ]
        read = 0
        for role, plain in keys.items():
            for path in reads:
                answer = api.get(path, headers=auth(plain))
                assert CODE not in answer.text, (role, path)
                read += answer.status_code == 200
        assert read >= 20  # the roles that may read these did
        assert dispatch_once(container).delivered == 1
        (received,) = receiver.received
        delivered = received.body.decode()
        assert CODE in delivered  # the tenant's webhook alone carries it, message and all
        assert f"Your code: {CODE}" in delivered


def test_the_tenants_last_admin_key_cannot_be_revoked(api, tenant):
    _tenant_id, admin = tenant
    own = [k for k in api.get("/v1/keys", headers=auth(admin)).json()["items"]]
    assert len(own) == 1
    refused = api.delete(f"/v1/keys/{own[0]['id']}", headers=auth(admin))
    assert refused.status_code == 409 and refused.json()["code"] == "last_admin_key"
    second = key(api, admin, "admin")
    assert api.delete(f"/v1/keys/{own[0]['id']}", headers=auth(second["key"])).status_code == 200
    again = api.delete(f"/v1/keys/{second['id']}", headers=auth(second["key"]))
    assert again.status_code == 409 and again.json()["code"] == "last_admin_key"
    assert api.get("/v1/keys", headers=auth(second["key"])).status_code == 200


def test_two_admins_revoking_each_other_at_once_leave_one(api, tenant, store):
    _tenant_id, admin = tenant
    first = api.get("/v1/keys", headers=auth(admin)).json()["items"][0]
    second = key(api, admin, "admin")
    pairs = [(admin, second["id"]), (second["key"], first["id"])]
    answers: list[int] = []
    start = threading.Barrier(2)

    def revoke(plain, key_id):
        start.wait()
        answers.append(api.delete(f"/v1/keys/{key_id}", headers=auth(plain)).status_code)

    threads = [threading.Thread(target=revoke, args=pair) for pair in pairs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(answers) in ([200, 409], [200, 401]), answers  # never both
    left = [p for p, _ in pairs if api.get("/v1/keys", headers=auth(p)).status_code == 200]
    assert len(left) == 1
