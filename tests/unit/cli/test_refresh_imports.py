"""`infra-assets refresh` starts without the Qdrant client (1.4 s of imports here, with fastembed
under it) unless a Qdrant server is configured: the embedded store does not need it."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest


def test_refresh_module_does_not_import_the_qdrant_client():
    code = (
        "import sys, infra_assets.cli.refresh, infra_assets.serve.notify; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('qdrant_client', 'fastembed')))"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert out.strip() == "[]", out


@pytest.mark.skipif(sys.platform != "linux", reason="the checks run in forked processes on Linux only")
def test_a_check_whose_process_dies_means_a_run(tmp_path, monkeypatch, capsys):
    """The pages are checked in a forked process; if it dies, the source is run, not verified."""
    from infra_assets.cli import refresh
    from infra_assets.settings import Settings
    from infra_assets.sources.spec import load_sources

    (tmp_path / "home").mkdir()
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    (tmp_path / "sources.yaml").write_text("sources:\n  - {name: docs, kind: page, url: 'http://127.0.0.1:9/'}\n")
    spec = load_sources(tmp_path / "sources.yaml")
    env = Settings.from_env({}, root=tmp_path)
    monkeypatch.setattr(refresh, "_detect_everything", _die)
    assert refresh.verify_unchanged(spec, env, ["docs"]) == ["docs"]
    assert "docs: 1 check(s) failed (BrokenProcessPool" in capsys.readouterr().err


def _die(*args: object) -> None:
    os._exit(3)  # the checking process dies outright
