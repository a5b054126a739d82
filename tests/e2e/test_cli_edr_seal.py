"""`tessera edrs seal|verify|verify-file` in real processes: a sealed tenant verifies, a row
changed in the database fails verify naming it (exit 3); the sealed export verifies offline
and fails at a line edited in the file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa
from test_cli import run

from tessera.adapters.db import tables as t


@pytest.fixture
def env(database_url):
    import os

    return {**os.environ, "TESSERA_DATABASE_URL": database_url, "TESSERA_CODE_SECRET": "s"}


def test_verify_names_the_changed_row_and_the_file_verifies_offline(
    env, api, container, tmp_path: Path
):
    key = run(env, "tenant", "create", "auditee").stdout.strip()
    h = {"Authorization": f"Bearer {key}"}
    for i in range(4):
        api.put(f"/v1/subscribers/s{i}", json={"attributes": {"i": i}}, headers=h)
    sealed = json.loads(run(env, "edrs", "seal", "--format", "json").stdout)
    assert sealed["sealed"] >= 5
    ok = json.loads(run(env, "edrs", "verify", "--tenant", "auditee", "--format", "json").stdout)
    assert ok["ok"] and ok["unsealed"] == 0

    export = tmp_path / "sealed.jsonl"
    run(env, "edrs", "export", "--tenant", "auditee", "--format", "sealed", "--output", str(export))
    offline = json.loads(run(env, "edrs", "verify-file", str(export), "--format", "json").stdout)
    assert offline["ok"] and offline["sealed"] == ok["sealed"]
    assert offline["chain_head"] == ok["chain_head"]
    over_http = api.get("/v1/edrs/export", headers=h)
    assert over_http.status_code == 200 and over_http.text == export.read_text()

    lines = export.read_text().splitlines()
    third = json.loads(lines[2])
    third["edr"]["details"] = {"attributes": {"i": 99}}
    lines[2] = json.dumps(third)
    edited = tmp_path / "edited.jsonl"
    edited.write_text("\n".join(lines) + "\n")
    bad = run(env, "edrs", "verify-file", str(edited), "--format", "json", check=False)
    assert bad.returncode == 3
    assert json.loads(bad.stdout)["edr_id"] == third["edr"]["id"]

    with container.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("SET LOCAL session_replication_role = replica"))
        else:
            conn.execute(sa.text("DROP TRIGGER edrs_append_only_update"))
        conn.execute(
            sa.update(t.edrs).where(t.edrs.c.id == third["edr"]["id"]).values(subject_id="s9")
        )
    broken = run(env, "edrs", "verify", "--tenant", "auditee", "--format", "json", check=False)
    assert broken.returncode == 3
    answer = json.loads(broken.stdout)
    assert (answer["breach"], answer["edr_id"]) == ("changed", third["edr"]["id"])
    assert f"EDR {third['edr']['id']} changed" in broken.stderr
    assert api.get("/v1/edrs/verify", headers=h).json()["edr_id"] == third["edr"]["id"]


def test_an_unreadable_file_is_a_refusal(env, tmp_path: Path):
    junk = tmp_path / "junk.jsonl"
    junk.write_text("not json\n")
    done = run(env, "edrs", "verify-file", str(junk), check=False)
    assert done.returncode == 2 and "line 1" in done.stderr
