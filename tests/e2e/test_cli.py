"""The CLI in real subprocesses: tenants and keys, EDR export, and ``serve --demo``."""

import csv
import io
import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

TESSERA = [sys.executable, "-m", "tessera.entrypoints.cli"]


@pytest.fixture
def env(database_url):
    return {
        **os.environ,
        "TESSERA_DATABASE_URL": database_url,
        "TESSERA_CODE_SECRET": "cli-test-secret",
    }


def run(env, *args, check=True):
    done = subprocess.run([*TESSERA, *args], env=env, capture_output=True, text=True, timeout=60)
    if check:
        assert done.returncode == 0, done.stderr
    return done


def test_tenant_create_prints_a_key_that_works_once_and_refuses_a_duplicate(env, api):
    done = run(env, "tenant", "create", "acme-mobile")
    key = done.stdout.strip()
    assert key.startswith("tsk_")
    assert (
        api.get("/v1/voucher-types", headers={"Authorization": f"Bearer {key}"}).status_code == 200
    )
    again = run(env, "tenant", "create", "acme-mobile", check=False)
    assert again.returncode == 2
    assert "tenant_exists" in again.stderr
    assert "acme-mobile" in run(env, "tenant", "list").stdout


def test_edrs_export_streams_csv_and_jsonl(env, api, tmp_path: Path):
    key = run(env, "tenant", "create", "exporter").stdout.strip()
    h = {"Authorization": f"Bearer {key}"}
    for i in range(3):
        api.put(f"/v1/subscribers/s{i}", json={"attributes": {"i": i}}, headers=h)
    lines = run(
        env, "edrs", "export", "--tenant", "exporter", "--format", "jsonl"
    ).stdout.splitlines()
    records = [json.loads(line) for line in lines]
    assert [r["operation"] for r in records] == ["key.create"] + ["subscriber.create"] * 3
    out = tmp_path / "edrs.csv"
    run(
        env,
        "edrs",
        "export",
        "--tenant",
        "exporter",
        "--format",
        "csv",
        "--operation",
        "subscriber.create",
        "--output",
        str(out),
    )
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert [r["subject_id"] for r in rows] == ["s0", "s1", "s2"]
    assert json.loads(rows[2]["details"]) == {"attributes": {"i": 2}}


def test_unknown_tenant_is_a_clear_error(env):
    done = run(env, "edrs", "export", "--tenant", "nobody", check=False)
    assert done.returncode == 2
    assert "tenant_not_found" in done.stderr


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_serve_demo_on_a_fresh_machine_serves_health_docs_and_the_api(tmp_path: Path):
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TESSERA_")}
    server = subprocess.Popen(
        [*TESSERA, "serve", "--demo", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        output, key = "", None
        deadline = time.monotonic() + 60
        while key is None and time.monotonic() < deadline:
            line = server.stdout.readline()
            output += line
            match = re.search(r"(tsk_[A-Za-z0-9_\-]{20,})", line)
            key = match.group(1) if match else None
        assert key, output
        base = f"http://127.0.0.1:{port}"
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        assert httpx.get(f"{base}/docs").status_code == 200
        answer = httpx.get(f"{base}/v1/voucher-types", headers={"Authorization": f"Bearer {key}"})
        assert answer.status_code == 200
        assert answer.json() == {"items": [], "next_cursor": None}
        assert (tmp_path / "tessera.db").exists()
        # The rest of the README's demo runs from the same directory with no settings: the
        # CLI finds the secrets `serve --demo` keeps next to the database.
        demo = {"env": env, "cwd": tmp_path, "capture_output": True, "text": True}
        made = subprocess.run(
            [*TESSERA, "list", "create", "Coffee", "--tenant", "demo", "--partner", "Java"], **demo
        )
        assert made.returncode == 0, made.stderr
        codes = tmp_path / "codes.csv"
        codes.write_text(
            "code,description,expiry\nJAVA-1,Coffee,2030-01-01\nJAVA-2,Coffee,not-a-date\n"
        )
        upload = [*TESSERA, "list", "upload", "Coffee", str(codes), "--tenant", "demo"]
        uploaded = subprocess.run([*upload, "--format", "json"], **demo)
        assert uploaded.returncode == 0, uploaded.stderr
        summary = json.loads(uploaded.stdout)
        assert (summary["accepted"], summary["invalid"]) == (1, 1)
    finally:
        server.terminate()
        server.wait(timeout=20)


def test_list_upload_reports_a_line_too_long_as_one_bad_row_and_stores_the_rest(
    env, tmp_path: Path
):
    env = {**env, "TESSERA_LIST_KEY": "dGVzc2VyYS10ZXN0LWxpc3Qta2V5LTMyLWJ5dGVzLiE="}
    run(env, "tenant", "create", "uploader")
    run(env, "list", "create", "Coffee", "--tenant", "uploader", "--partner", "Java House")
    file = tmp_path / "codes.csv"
    file.write_text("code\nC1\n" + "X" * (10 * 1024 * 1024) + "\nC2\n", encoding="utf-8")
    report = tmp_path / "refused.csv"
    done = run(
        env,
        "list",
        "upload",
        "Coffee",
        str(file),
        "--tenant",
        "uploader",
        "--report",
        str(report),
        "--format",
        "json",
    )
    counts = json.loads(done.stdout)
    assert (counts["rows"], counts["accepted"], counts["invalid"]) == (3, 2, 1)
    assert list(csv.reader(report.open(encoding="utf-8"))) == [
        ["line", "kind", "reason"],
        ["3", "invalid", "row is longer than 65536 characters"],
    ]
