"""`tessera serve` needs the code secret; only the demo may make one up (kept 0600)."""

import stat

from typer.testing import CliRunner

from tessera.entrypoints.cli import app
from tessera.entrypoints.http import server


def test_serve_refuses_to_start_without_a_code_secret(tmp_path, monkeypatch):
    monkeypatch.setenv("TESSERA_CODE_SECRET", "")  # empty: unset, and restored afterwards
    monkeypatch.setenv("TESSERA_DATABASE_URL", f"sqlite:///{tmp_path / 't.db'}")
    monkeypatch.setattr(server, "serve", lambda **k: None)
    result = CliRunner().invoke(app, ["serve"])
    assert result.exit_code == 2
    assert "TESSERA_CODE_SECRET" in result.output


def test_serve_demo_keeps_a_generated_secret_next_to_the_database(tmp_path, monkeypatch):
    monkeypatch.setenv("TESSERA_CODE_SECRET", "")  # empty: unset, and restored afterwards
    monkeypatch.setenv("TESSERA_DATABASE_URL", f"sqlite:///{tmp_path / 't.db'}")
    monkeypatch.setattr(server, "serve", lambda **k: None)
    result = CliRunner().invoke(app, ["serve", "--demo"])
    assert result.exit_code == 0, result.output
    secret_file = tmp_path / ".tessera-code-secret"
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    first = secret_file.read_text()
    assert CliRunner().invoke(app, ["serve", "--demo"]).exit_code == 0
    assert secret_file.read_text() == first  # codes made earlier stay valid
