"""A host's brands from the terminal (issue 18 item 1): create prints the first admin key
once, list and report show the brands, suspend refuses the brand's key, resume lets it in."""

import json
import uuid

import pytest
from typer.testing import CliRunner

from tessera.entrypoints.cli import app
from tessera.services.tenants import authenticate, find_tenant
from vouchering import make_type


@pytest.fixture
def cli(database_url, monkeypatch):
    monkeypatch.setenv("TESSERA_DATABASE_URL", database_url)
    monkeypatch.setenv("TESSERA_CODE_SECRET", "cli-test-secret")
    monkeypatch.setenv("TESSERA_LOG_LEVEL", "warning")
    runner = CliRunner()

    def run(*args, code=0):
        done = runner.invoke(app, list(args))
        assert done.exit_code == code, done.output
        return done

    return run


def test_a_host_makes_lists_suspends_and_resumes_a_brand_from_the_terminal(cli, container):
    host, brand = f"host-{uuid.uuid4().hex[:8]}", f"brand-{uuid.uuid4().hex[:8]}"
    cli("tenant", "create", host)
    key = cli("brand", "create", brand, "--tenant", host).stdout.strip().splitlines()[-1]
    assert key.startswith("tsk_")
    caller = authenticate(container.directory(), key)
    (listed,) = json.loads(cli("brand", "list", "--tenant", host, "--format", "json").stdout)[
        "items"
    ]
    assert listed["name"] == brand and listed["id"] == str(caller.tenant_id)
    cli("brand", "suspend", listed["id"], "--tenant", host)
    with pytest.raises(Exception, match="suspended"):
        authenticate(container.directory(), key)
    refused = cli("brand", "suspend", listed["id"], "--tenant", host, code=2)
    assert "brand_already_suspended" in refused.output
    cli("brand", "resume", listed["id"], "--tenant", host)
    assert authenticate(container.directory(), key).tenant_id == caller.tenant_id
    (counted,) = json.loads(cli("brand", "report", "--tenant", host, "--format", "json").stdout)
    assert counted["vouchers"] == 0 and counted["name"] == brand
    cli("brand", "create", f"x-{uuid.uuid4().hex[:6]}", "--tenant", brand, code=2)  # hosts none


def test_a_brand_shares_a_type_and_the_host_sees_who_owes_whom_from_the_terminal(cli, container):
    host = f"host-{uuid.uuid4().hex[:8]}"
    cli("tenant", "create", host)
    a, b = f"a-{uuid.uuid4().hex[:8]}", f"b-{uuid.uuid4().hex[:8]}"
    cli("brand", "create", a, "--tenant", host)
    cli("brand", "create", b, "--tenant", host)
    b_id = authenticate(
        container.directory(), cli("brand", "create", f"c-{uuid.uuid4().hex[:6]}", "--tenant",
                                   host).stdout.strip().splitlines()[-1]
    ).tenant_id  # fmt: skip
    type_id = make_type(container, tenant_id(container, a))
    shared = json.loads(cli("brand", "share", str(type_id), str(b_id), "--tenant", a,
                            "--format", "json").stdout)  # fmt: skip
    assert shared["brand_id"] == str(b_id)
    listed = json.loads(cli("brand", "shares", str(type_id), "--tenant", a, "--format",
                            "json").stdout)  # fmt: skip
    assert [s["brand_id"] for s in listed] == [str(b_id)]
    span = ("--since", "2026-11-01", "--until", "2027-01-01")
    flows = json.loads(cli("brand", "settlement", "--tenant", host, *span, "--format",
                           "json").stdout)  # fmt: skip
    assert flows == []  # nothing used yet
    lines = json.loads(cli("brand", "lines", "--tenant", a, *span, "--format", "json").stdout)
    assert lines["lines"] == [] and lines["balances"] == []
    cli("brand", "unshare", str(type_id), str(b_id), "--tenant", a)
    assert json.loads(cli("brand", "shares", str(type_id), "--tenant", a, "--format",
                          "json").stdout) == []  # fmt: skip


def tenant_id(container, name):
    return find_tenant(container.directory(), name).id
