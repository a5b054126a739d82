"""Customer care from a terminal, in real subprocesses on both stores: a subscriber's
vouchers, history, aggregates and rewards, as a table or JSON; a bad filter is one line
naming it and exit 2."""

import json
import os
import subprocess
import sys
import uuid

import pytest
from pydantic import SecretStr

from tessera.bootstrap import build
from tessera.config import Settings
from tessera.services import redemption
from tessera.services.tenants import create_tenant
from vouchering import POLICY, by_code, issue, make_type

TESSERA = [sys.executable, "-m", "tessera.entrypoints.cli"]
SECRET = "cli-care-secret"
A = "254700000123"


@pytest.fixture
def seeded(database_url):
    """A tenant where A redeemed two of three vouchers."""
    container = build(Settings(database_url=database_url, code_secret=SecretStr(SECRET)))
    name = f"care-{uuid.uuid4().hex[:8]}"
    tenant, _key = create_tenant(container.directory(), name)
    type_id = make_type(container, tenant.id)
    issued = [issue(container, tenant.id, type_id) for _ in range(3)]
    for voucher, code in issued[:2]:
        redemption.redeem(container.uow(tenant.id), container.code_secret, by_code(code, A), POLICY)
    container.close()
    env = {
        **os.environ,
        "TESSERA_DATABASE_URL": database_url,
        "TESSERA_CODE_SECRET": SECRET,
        "TESSERA_LOG_LEVEL": "warning",
    }
    return env, name, [v.serial for v, _ in issued]


def tessera(env, *args):
    return subprocess.run([*TESSERA, *args], env=env, capture_output=True, text=True, timeout=60)


def test_an_operator_finds_what_a_subscriber_redeemed_and_their_history(seeded):
    env, tenant, serials = seeded
    t = ("--tenant", tenant)
    done = tessera(env, "voucher", "find", *t, "--subscriber", A, "--status", "used",
                   "--format", "json")  # fmt: skip
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    assert [v["serial"] for v in found["items"]] == serials[:2]
    assert {v["subscriber"] for v in found["items"]} == {A}
    table = tessera(env, "voucher", "find", *t, "--subscriber", A)
    assert table.returncode == 0, table.stderr
    first_cells = [row.split("│")[1].strip() for row in table.stdout.splitlines() if "│" in row]
    assert first_cells == [str(s) for s in serials[:2]]
    history = tessera(env, "subscriber", "history", A, *t, "--kind", "redemption",
                      "--format", "json")  # fmt: skip
    assert history.returncode == 0, history.stderr
    entries = json.loads(history.stdout)["items"]
    assert [e["subject_id"] for e in entries] == [str(s) for s in serials[:2]]
    assert {e["kind"] for e in entries} == {"redemption"}
    aggregates = tessera(env, "subscriber", "aggregates", A, *t, "--format", "json")
    assert aggregates.returncode == 0, aggregates.stderr
    assert json.loads(aggregates.stdout)["aggregates"] == []
    rewards = tessera(env, "reward", "list", *t, "--subscriber", A, "--format", "json")
    assert rewards.returncode == 0, rewards.stderr
    assert json.loads(rewards.stdout) == {"items": [], "next_cursor": None}


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("voucher", "find", "--last4", "12"), "last4"),
        (("voucher", "find", "--since", "yesterday"), "--since"),
        (("voucher", "find", "--serial-from", "9", "--serial-to", "3"), "serial_to"),
        (("subscriber", "history", A, "--until", "2026-13-01T00:00:00Z"), "--until"),
        (("key", "create", "--role", "partner"), "list_ids"),  # a partner key names its lists
    ],
)
def test_a_bad_filter_is_one_line_naming_it_and_exit_2(seeded, args, says):
    env, tenant, _ = seeded
    done = tessera(env, *args, "--tenant", tenant)
    assert done.returncode == 2, done.stdout + done.stderr
    lines = [line for line in done.stderr.splitlines() if line.startswith("error")]
    assert len(lines) == 1 and says in lines[0], done.stderr
    assert "Traceback" not in done.stderr
