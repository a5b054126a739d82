"""Reversing a reward that issued a voucher leaves no usable voucher behind: an unused one is
closed; a redeemed one refuses the reversal, unless the caller asks to reverse the redemption
too, when both happen in one transaction with their EDRs."""

import threading

import pytest

from helpers import auth
from vouchering import make_type

T = "2026-11-23T10:00:00Z"
SUBSCRIBER = "254700000071"


@pytest.fixture
def issued(api, container, tenant):
    """A campaign that issues a voucher (worth 500 data_mb), and the reward of one event."""
    tenant_id, key = tenant
    admin = auth(key)
    type_id = make_type(container, tenant_id)
    body = {
        "name": "Welcome voucher",
        "trigger_types": ["usage.data"],
        "condition": "event.attributes.mb >= 100",
        "rewards": [{"kind": "issue_voucher", "voucher_type_id": str(type_id)}],
        "status": "active",
        "cost_per_reward_minor": 25,
        "currency": "EUR",
    }
    assert api.post("/v1/campaigns", json=body, headers=admin).status_code == 201
    event = {
        "id": "rv1",
        "subscriber": SUBSCRIBER,
        "type": "usage.data",
        "occurred_at": T,
        "attributes": {"mb": 150},
    }
    answer = api.post("/v1/events", json=event, headers=admin)
    assert answer.status_code == 200, answer.text
    (reward,) = answer.json()["results"][0]["rewards"]
    return admin, reward["reward_id"], reward["details"]["serial"], reward["details"]["code"]


def redeem(api, admin, code):
    return api.post(
        "/v1/vouchers/redeem", json={"code": code, "subscriber": SUBSCRIBER}, headers=admin
    )


def voucher_status(api, admin, serial):
    return api.get(f"/v1/vouchers/{serial}", headers=admin).json()["status"]


def operations(api, admin, subject_id):
    found = api.get("/v1/edrs", params={"subject_id": subject_id}, headers=admin).json()
    return [e["operation"] for e in found["items"]]


def totals(api, admin):
    return api.get(f"/v1/subscribers/{SUBSCRIBER}/wallet", headers=admin).json()["totals"]


def test_reversing_a_reward_closes_the_unused_voucher_it_issued(api, issued):
    admin, reward_id, serial, code = issued
    reversed_ = api.post(f"/v1/rewards/{reward_id}/reverse", json={}, headers=admin)
    assert reversed_.status_code == 200, reversed_.text
    assert reversed_.json()["status"] == "reversed"
    assert reversed_.json()["voucher"] == {
        "serial": serial,
        "status": "closed",
        "redemption_reversed": False,
    }
    assert voucher_status(api, admin, serial) == "closed"
    refused = redeem(api, admin, code)
    assert refused.status_code == 409, refused.text
    assert operations(api, admin, str(serial))[-3:] == [
        "voucher.close", "revenue.released", "voucher.redeem_refused",
    ]  # fmt: skip
    (edr,) = [
        e
        for e in api.get("/v1/edrs?operation=reward.reverse", headers=admin).json()["items"]
        if e["subject_id"] == reward_id
    ]
    assert edr["details"]["voucher"]["status"] == "closed"


def test_reversing_a_reward_whose_voucher_was_redeemed_is_refused_with_the_reason(api, issued):
    admin, reward_id, serial, code = issued
    assert redeem(api, admin, code).status_code == 200
    refused = api.post(f"/v1/rewards/{reward_id}/reverse", json={}, headers=admin)
    assert refused.status_code == 409
    assert refused.headers["content-type"].startswith("application/problem+json")
    problem = refused.json()
    assert problem["code"] == "voucher_redeemed"
    assert "reverse_redemption" in problem["detail"]
    assert problem["serial"] == serial
    assert voucher_status(api, admin, serial) == "used"
    assert totals(api, admin) == {"data_mb": 500}
    assert "reward.reverse" not in operations(api, admin, reward_id)


def test_reversing_the_redemption_too_undoes_both_in_one_transaction(api, issued):
    admin, reward_id, serial, code = issued
    assert redeem(api, admin, code).status_code == 200
    both = api.post(
        f"/v1/rewards/{reward_id}/reverse",
        json={"reverse_redemption": True, "reason": "fraud"},
        headers=admin,
    )
    assert both.status_code == 200, both.text
    assert both.json()["voucher"] == {
        "serial": serial,
        "status": "closed",
        "redemption_reversed": True,
    }
    assert voucher_status(api, admin, serial) == "closed"
    assert totals(api, admin) in ({}, {"data_mb": 0})
    assert operations(api, admin, str(serial))[-4:] == [
        "voucher.reverse", "revenue.reversed", "voucher.close", "revenue.released",
    ]  # fmt: skip
    assert "wallet.debit" in operations(api, admin, SUBSCRIBER)
    assert operations(api, admin, reward_id)[-1] == "reward.reverse"
    again = api.post(f"/v1/rewards/{reward_id}/reverse", json={}, headers=admin)
    assert (again.status_code, again.json()["code"]) == (409, "reward_reversed")


def test_a_spent_credit_refuses_the_whole_reversal(api, issued):
    admin, reward_id, serial, code = issued
    assert redeem(api, admin, code).status_code == 200
    spent = api.post(
        f"/v1/subscribers/{SUBSCRIBER}/wallet/debits",
        json={"balance_type": "data_mb", "amount": 400},
        headers=admin,
    )
    assert spent.status_code == 200, spent.text
    before = operations(api, admin, str(serial))
    refused = api.post(
        f"/v1/rewards/{reward_id}/reverse", json={"reverse_redemption": True}, headers=admin
    )
    assert (refused.status_code, refused.json()["code"]) == (409, "credit_spent")
    assert voucher_status(api, admin, serial) == "used"  # nothing half-written
    assert operations(api, admin, str(serial)) == before
    assert "reward.reverse" not in operations(api, admin, reward_id)
    assert totals(api, admin) == {"data_mb": 100}


def test_reversing_a_reward_closes_the_voucher_that_replaced_the_one_issued(api, issued):
    admin, reward_id, serial, _code = issued
    reissued = api.post(f"/v1/vouchers/{serial}/reissue", json={}, headers=admin)
    assert reissued.status_code == 200, reissued.text
    replacement = reissued.json()["replacement"]
    reversed_ = api.post(f"/v1/rewards/{reward_id}/reverse", json={}, headers=admin)
    assert reversed_.status_code == 200, reversed_.text
    assert reversed_.json()["voucher"]["serial"] == replacement["serial"]
    assert voucher_status(api, admin, replacement["serial"]) == "closed"
    assert voucher_status(api, admin, serial) == "reissued"


def test_a_reversal_racing_a_redemption_never_lets_both_happen(api, issued):
    """The reversal closes the voucher by compare-and-set: whichever commits first wins,
    the other is refused, and nothing is half-done."""
    admin, _reward_id, _serial, _code = issued
    for n in range(5):
        event = {
            "id": f"race{n}",
            "subscriber": SUBSCRIBER,
            "type": "usage.data",
            "occurred_at": T,
            "attributes": {"mb": 150},
        }
        (reward,) = api.post("/v1/events", json=event, headers=admin).json()["results"][0][
            "rewards"
        ]
        serial, code = reward["details"]["serial"], reward["details"]["code"]
        answers = {}
        start = threading.Barrier(2)

        def reverse(reward_id=reward["reward_id"]):
            start.wait()
            answers["reverse"] = api.post(
                f"/v1/rewards/{reward_id}/reverse", json={}, headers=admin
            )

        def use(code=code):
            start.wait()
            answers["redeem"] = redeem(api, admin, code)

        threads = [threading.Thread(target=reverse), threading.Thread(target=use)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        codes = sorted(a.status_code for a in answers.values())
        assert codes == [200, 409], {k: a.text for k, a in answers.items()}
        status = voucher_status(api, admin, serial)
        if answers["reverse"].status_code == 200:
            assert status == "closed"
        else:
            assert status == "used"
            assert answers["reverse"].json()["code"] == "voucher_redeemed"
