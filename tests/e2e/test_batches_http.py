"""Batches over HTTP: 202 and progress, one-time print file, whole and range operations."""

import csv
import io
import time
from datetime import timedelta
from pathlib import Path

import pytest

from batching import make_voucher_type
from helpers import auth
from tessera.services import batches


@pytest.fixture
def print_dir(container, tmp_path) -> Path:
    container.settings.print_dir = str(tmp_path / "print")
    return tmp_path / "print"


def _wait_generated(api, key, batch_id, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = api.get(f"/v1/batches/{batch_id}", headers=auth(key)).json()
        if body["state"] != "generating":
            return body
        time.sleep(0.05)
    raise AssertionError("the batch did not finish generating")


def _create(api, container, tenant, count=500, **extra):
    vt = make_voucher_type(container, tenant[0])
    answer = api.post(
        "/v1/batches",
        json={"voucher_type_id": str(vt.id), "count": count, **extra},
        headers=auth(tenant[1]),
    )
    assert answer.status_code == 202, answer.text
    return answer


def test_create_answers_202_and_the_batch_reports_progress_until_generated(
    api, container, tenant, print_dir
):
    answer = _create(api, container, tenant, count=1200)
    body = answer.json()
    assert body["state"] == "generating"
    assert (body["requested"], body["generated"]) == (1200, 0)
    assert answer.headers["Location"] == f"/v1/batches/{body['id']}"
    done = _wait_generated(api, tenant[1], body["id"])
    assert done["state"] == "generated"
    assert done["generated"] == 1200
    assert done["voucher_counts"] == {"pending": 1200}
    assert done["print_file_available"] is True
    listed = api.get("/v1/batches", headers=auth(tenant[1])).json()
    assert [b["id"] for b in listed["items"]] == [body["id"]]


def test_print_file_can_be_fetched_once_then_is_gone(api, container, tenant, print_dir):
    batch_id = _create(api, container, tenant, count=300, include_cost=True).json()["id"]
    _wait_generated(api, tenant[1], batch_id)
    first = api.get(f"/v1/batches/{batch_id}/print-file", headers=auth(tenant[1]))
    assert first.status_code == 200
    assert first.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(first.text)))
    assert len(rows) == 300
    assert set(rows[0]) == {
        "serial",
        "code",
        "type",
        "grants",
        "expiry",
        "batch_id",
        "cost",
        "currency",
    }
    assert list(print_dir.iterdir()) == []  # the plain codes left the disk
    again = api.get(f"/v1/batches/{batch_id}/print-file", headers=auth(tenant[1]))
    assert again.status_code == 410
    assert again.json()["code"] == "print_file_gone"
    batch = api.get(f"/v1/batches/{batch_id}", headers=auth(tenant[1])).json()
    assert batch["print_file_available"] is False
    assert batch["print_file_fetched_at"] is not None


def test_range_activation_changes_only_the_range_and_its_edr_counts_it(
    api, container, tenant, print_dir
):
    batch_id = _create(api, container, tenant, count=100).json()["id"]
    batch = _wait_generated(api, tenant[1], batch_id)
    first = batch["serial_first"]
    headers = auth(tenant[1])
    answer = api.post(
        f"/v1/batches/{batch_id}/activate",
        json={"serial_from": first + 10, "serial_to": first + 29},
        headers=headers,
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["count"] == 20
    assert answer.json()["batch"]["state"] == "active"
    counts = api.get(f"/v1/batches/{batch_id}", headers=headers).json()["voucher_counts"]
    assert counts == {"available": 20, "pending": 80}
    edrs = api.get(
        "/v1/edrs", params={"operation": "batch.activate", "subject_id": batch_id}, headers=headers
    ).json()["items"]
    assert len(edrs) == 1
    assert edrs[0]["details"]["count"] == 20
    assert (edrs[0]["details"]["serial_from"], edrs[0]["details"]["serial_to"]) == (
        first + 10,
        first + 29,
    )


def test_whole_batch_freeze_unfreeze_and_cancel(api, container, tenant, print_dir):
    batch_id = _create(api, container, tenant, count=50).json()["id"]
    _wait_generated(api, tenant[1], batch_id)
    headers = auth(tenant[1])
    post = lambda op: api.post(f"/v1/batches/{batch_id}/{op}", headers=headers)
    assert post("activate").json()["count"] == 50
    frozen = post("freeze").json()
    assert (frozen["batch"]["state"], frozen["count"]) == ("frozen", 50)
    assert post("freeze").status_code == 409
    assert post("unfreeze").json()["batch"]["state"] == "active"
    canceled = post("cancel").json()
    assert (canceled["batch"]["state"], canceled["count"]) == ("canceled", 50)
    counts = api.get(f"/v1/batches/{batch_id}", headers=headers).json()["voucher_counts"]
    assert counts == {"closed": 50}
    assert api.get(f"/v1/batches/{batch_id}/print-file", headers=headers).status_code == 410


def test_a_range_outside_the_batch_is_refused(api, container, tenant, print_dir):
    batch_id = _create(api, container, tenant, count=10).json()["id"]
    batch = _wait_generated(api, tenant[1], batch_id)
    answer = api.post(
        f"/v1/batches/{batch_id}/activate",
        json={"serial_from": batch["serial_first"], "serial_to": batch["serial_last"] + 1},
        headers=auth(tenant[1]),
    )
    assert answer.status_code == 422
    assert answer.json()["field"] == "serial_to"


def test_a_code_space_too_small_answers_422_with_both_numbers(api, container, tenant, print_dir):
    vt = make_voucher_type(container, tenant[0])
    answer = api.post(
        "/v1/batches",
        json={"voucher_type_id": str(vt.id), "count": 11, "code_format": {"length": 6}},
        headers=auth(tenant[1]),
    )
    assert answer.status_code == 422
    body = answer.json()
    assert body["code"] == "code_space_too_small"
    assert (body["count"], body["code_space"]) == (11, 10**6)


def test_another_tenants_batch_does_not_exist(api, container, make_tenant, print_dir):
    owner, other = make_tenant(), make_tenant()
    batch_id = _create(api, container, owner, count=5).json()["id"]
    _wait_generated(api, owner[1], batch_id)
    for answer in (
        api.get(f"/v1/batches/{batch_id}", headers=auth(other[1])),
        api.post(f"/v1/batches/{batch_id}/cancel", headers=auth(other[1])),
        api.get(f"/v1/batches/{batch_id}/print-file", headers=auth(other[1])),
    ):
        assert answer.status_code == 404
        assert answer.json()["code"] == "batch_not_found"


def test_reads_answer_while_a_writer_holds_the_store(api, container, tenant, print_dir):
    """A batch chunk (200,000 vouchers on SQLite) is one long write; a GET, its key's
    resolution included, reads beside it instead of queueing behind it."""
    batch_id = _create(api, container, tenant, count=5).json()["id"]
    _wait_generated(api, tenant[1], batch_id)
    with container.engine.connect() as writer, writer.begin():
        writer.exec_driver_sql("UPDATE batches SET updated_at = updated_at")  # holds the lock
        began = time.monotonic()
        listed = api.get("/v1/batches", headers=auth(tenant[1]))
        one = api.get(f"/v1/batches/{batch_id}", headers=auth(tenant[1]))
        waited = time.monotonic() - began
    assert listed.status_code == 200 and one.status_code == 200
    assert waited < 2.0, f"the reads waited {waited:.1f} s for the writer"


def test_a_batch_waiting_its_turn_is_not_failed_as_abandoned(api, container, tenant, print_dir):
    """On SQLite the server generates one batch at a time: the next one waits in this
    process, without a heartbeat yet, and batch recovery (here with no patience at all)
    leaves it alone; both then generate."""
    first = _create(api, container, tenant, count=40_000).json()["id"]
    second = _create(api, container, tenant, count=10).json()["id"]
    failed = batches.fail_abandoned_batches(container.directory(), container.uow, timedelta(0))
    assert failed == []
    for batch_id in (first, second):
        assert _wait_generated(api, tenant[1], batch_id, timeout=120)["state"] == "generated"
