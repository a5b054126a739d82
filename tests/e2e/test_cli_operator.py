"""An operator's day from a terminal, in real subprocesses on both stores: the catalog, a
batch, a voucher, a campaign with a typo then fixed, simulated and activated, webhooks and
keys; every command answers a table or JSON, and fails in one line with a non-zero exit."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import typer

from conftest import TEST_LIST_KEY
from tessera.entrypoints.cli import app

TESSERA = [sys.executable, "-m", "tessera.entrypoints.cli"]


@pytest.fixture
def env(database_url):
    return {
        **os.environ,
        "TESSERA_DATABASE_URL": database_url,
        "TESSERA_CODE_SECRET": "cli-test-secret",
        "TESSERA_LOG_LEVEL": "warning",
        "TESSERA_LIST_KEY": TEST_LIST_KEY,
    }


def tessera(env, *args, ok=True, cwd=None):
    done = subprocess.run(
        [*TESSERA, *args], env=env, capture_output=True, text=True, timeout=60, cwd=cwd
    )
    if ok:
        assert done.returncode == 0, done.stderr
    return done


def answer(env, *args):
    """A command's JSON answer."""
    return json.loads(tessera(env, *args, "--format", "json").stdout)


def refused(env, *args, cwd=None):
    """A refusal: exit 2, one line per problem on stderr, no traceback."""
    done = tessera(env, *args, ok=False, cwd=cwd)
    assert done.returncode == 2, done.stdout + done.stderr
    lines = [line for line in done.stderr.splitlines() if line.startswith("error")]
    assert len(lines) >= 1
    assert "Traceback" not in done.stderr
    return "\n".join(lines)


def test_an_operator_sets_up_sells_and_rewards_from_the_terminal(env, tmp_path: Path):
    tenant = "acme-" + tmp_path.name[-8:].replace("_", "")
    tessera(env, "tenant", "create", tenant)
    t = ("--tenant", tenant)
    lifecycle = answer(
        env, "lifecycle", "create", *t,
        "--json", '{"name": "30 days", "validity_kind": "from_activation", "validity_days": 30}',
    )  # fmt: skip
    assert lifecycle["validity_days"] == 30
    body = {
        "name": "1 GB", "cost_minor": 500, "currency": "EUR", "lifecycle_id": lifecycle["id"],
        "buckets": [{"balance_type": "data_mb", "amount": 1024}],
    }  # fmt: skip
    spec = tmp_path / "type.json"
    spec.write_text(json.dumps(body))
    voucher_type = answer(env, "type", "create", *t, "--file", str(spec))
    assert [row["id"] for row in answer(env, "type", "list", *t)["items"]] == [voucher_type["id"]]
    changed = answer(env, "type", "update", voucher_type["id"], *t, "--json", '{"name": "1 GB+"}')
    assert changed["name"] == "1 GB+"
    assert changed["cost_minor"] == 500  # only the field given changed

    print_file = tmp_path / "cards.csv"
    tessera(env, "batch", "create", *t, "--type", voucher_type["id"], "--count", "3",
            "--print-file", str(print_file))  # fmt: skip
    (batch,) = answer(env, "batch", "list", *t)["items"]
    assert batch["generated"] == 3
    serial = batch["serial_first"]
    assert answer(env, "voucher", "show", str(serial), *t)["status"] == "pending"

    typo = {
        "name": "Big users", "trigger_types": ["usage.data"], "condition": "agg.data_mb_mnth > 1",
        "rewards": [{"kind": "credit_bucket", "balance_type": "data_mb", "amount": 100}],
    }  # fmt: skip
    error = refused(env, "campaign", "create", *t, "--json", json.dumps(typo))
    assert "condition" in error
    assert "data_mb_mnth" in error
    typo["condition"] = "event.attributes.mb >= 100"
    campaign = answer(env, "campaign", "create", *t, "--json", json.dumps(typo))
    assert campaign["status"] == "draft"
    sample = {"events": [
        {"id": "e1", "type": "usage.data", "subscriber": "s1", "attributes": {"mb": 150}, "occurred_at": "2026-12-01T10:00:00Z"},
        {"id": "e2", "type": "usage.data", "subscriber": "s2", "attributes": {"mb": 5}, "occurred_at": "2026-12-01T10:00:00Z"},
    ]}  # fmt: skip
    simulated = answer(
        env, "campaign", "simulate", campaign["id"], *t, "--json", json.dumps(sample)
    )
    assert simulated["rewarded"] == 1
    assert answer(env, "campaign", "activate", campaign["id"], *t)["status"] == "active"
    assert answer(env, "campaign", "pause", campaign["id"], *t)["status"] == "paused"

    error = refused(env, "webhook", "create", *t, "--url", "https://10.0.0.7/x", "--event",
                    "voucher.redeemed")  # fmt: skip
    assert "private address" in error
    assert answer(env, "notification", "list", *t, "--status", "dead")["items"] == []

    minted = tessera(env, "key", "create", *t, "--role", "auditor").stdout.strip()
    keys = answer(env, "key", "list", *t)["items"]
    mine = next(k for k in keys if minted.startswith(k["display_prefix"]))
    assert answer(env, "key", "revoke", mine["id"], *t)["revoked_at"] is not None

    table = tessera(env, "lifecycle", "list", *t).stdout
    assert "30 days" in table
    assert lifecycle["id"] in table


def test_bad_input_is_one_line_naming_the_field(env):
    tessera(env, "tenant", "create", "careful")
    t = ("--tenant", "careful")
    assert "validity_days" in refused(
        env, "lifecycle", "create", *t, "--json", '{"name": "x", "validity_days": -1}'
    )
    assert "not JSON" in refused(env, "lifecycle", "create", *t, "--json", '{"name":')
    assert "tenant_not_found" in refused(env, "lifecycle", "list", "--tenant", "nobody")
    assert "voucher_not_found" in refused(env, "voucher", "show", "99", *t)
    unknown = "00000000-0000-7000-8000-000000000000"
    assert "not_found" in refused(env, "campaign", "show", unknown, *t)


def test_a_missing_sqlite_database_is_not_created_but_named(tmp_path: Path):
    bare = {k: v for k, v in os.environ.items() if not k.startswith("TESSERA_")}
    line = refused(bare, "lifecycle", "list", "--tenant", "demo", cwd=tmp_path)
    assert "no database at" in line
    assert "tessera db upgrade" in line
    assert list(tmp_path.iterdir()) == []


def test_an_unreachable_store_is_one_line_and_exit_1(tmp_path: Path):
    env = {**os.environ, "TESSERA_DATABASE_URL": "postgresql+psycopg://nobody@127.0.0.1:1/x"}
    done = tessera(env, "key", "list", "--tenant", "t", ok=False)
    assert done.returncode == 1
    assert done.stderr.count("\n") <= 2, done.stderr
    assert "OperationalError" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_bad_setting_is_named_by_its_variable(env):
    done = tessera({**env, "TESSERA_WEBHOOK_ALLOWED_NETWORKS": "nope"}, "tenant", "list", ok=False)
    assert done.returncode == 2
    assert "TESSERA_WEBHOOK_ALLOWED_NETWORKS" in done.stderr


# Commands whose output is not a record: a secret shown once, a server, an export file.
WITHOUT_FORMAT = {
    "db upgrade", "tenant create", "key create", "consume", "serve",
    "batch recover", "brand create", "brand unshare",
}  # fmt: skip


def _leaves(group, prefix=""):
    found = {}
    for name, command in group.commands.items():
        path = f"{prefix}{name}"
        if hasattr(command, "commands"):  # a group
            found.update(_leaves(command, path + " "))
        else:
            found[path] = command
    return found


def test_every_command_that_shows_records_takes_format_table_or_json():
    commands = _leaves(typer.main.get_group(app))
    lacking = {
        path
        for path, command in commands.items()
        if not any("--format" in p.opts for p in command.params)
    }
    assert lacking == WITHOUT_FORMAT
    for path in ("lifecycle list", "type show", "campaign simulate", "webhook list",
                 "notification retry", "key revoke", "voucher show", "aggregate list"):  # fmt: skip
        assert path in commands


def test_the_upload_report_keeps_every_refused_row(env, tmp_path: Path):
    """The API's answer names the first 1,000 problems; --report writes them all."""
    tessera(env, "tenant", "create", "reporter")
    t = ("--tenant", "reporter")
    tessera(env, "list", "create", "Coffee", *t, "--partner", "Java")
    rows = ["code,description,expiry", "GOOD-1,Coffee,2030-01-01"]
    rows += [f"BAD-{n},Coffee,not-a-date" for n in range(3000)]
    codes = tmp_path / "codes.csv"
    codes.write_text("\n".join(rows) + "\n")
    report = tmp_path / "refused.csv"
    summary = answer(env, "list", "upload", "Coffee", str(codes), *t, "--report", str(report))
    assert (summary["accepted"], summary["invalid"]) == (1, 3000)
    lines = report.read_text().splitlines()
    assert lines[0] == "line,kind,reason"
    assert len(lines) == 1 + 3000
    assert lines[1].startswith("3,invalid,") and lines[-1].startswith("3002,invalid,")
