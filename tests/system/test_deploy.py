"""The deployment files, checked as far as this machine can: parsed, consistent with the code,
and the instance profiles accepted by Dagster's own config validation.

No Kubernetes API server, Docker daemon or Helm chart can be reached here. The image's build
steps live in `deploy/install.sh`, which runs without Docker (a fresh venv, a few minutes: too
long for every CI run); docs/scaling.md records its last run. Its build check (the Python it
runs last) is run here against this checkout."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from dagster._core.instance.config import dagster_instance_config

from infra_assets.sources import load_sources

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"


def load_all(path: Path) -> list[dict]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


@pytest.mark.parametrize("folder", [ROOT, DEPLOY / "postgres"])
def test_instance_profiles_pass_dagsters_validation(folder, monkeypatch):
    for key, value in {
        "DAGSTER_PG_HOST": "db",
        "DAGSTER_PG_PORT": "5432",
        "DAGSTER_PG_DB": "dagster",
        "DAGSTER_PG_USER": "dagster",
        "DAGSTER_PG_PASSWORD": "x",
    }.items():
        monkeypatch.setenv(key, value)
    config, _ = dagster_instance_config(str(folder))
    assert config["concurrency"]["pools"]["default_limit"] == 1  # per-host politeness everywhere
    assert config["run_coordinator"]["class"] == "QueuedRunCoordinator"
    assert config["sensors"]["use_threads"] is True


def test_postgres_profile_differs_from_the_laptop_one_only_by_storage():
    laptop = yaml.safe_load((ROOT / "dagster.yaml").read_text())
    cluster = yaml.safe_load((DEPLOY / "postgres" / "dagster.yaml").read_text())
    assert "postgres_db" in cluster.pop("storage")["postgres"]
    assert cluster == laptop


def test_helm_values_run_our_code_location_on_k8s_and_postgres():
    values = yaml.safe_load((DEPLOY / "k8s" / "dagster-values.yaml").read_text())
    assert values["runLauncher"]["type"] == "K8sRunLauncher"
    assert values["postgresql"]["enabled"] is False and values["postgresql"]["postgresqlHost"]
    (deployment,) = values["dagster-user-deployments"]["deployments"]
    workspace = yaml.safe_load((ROOT / "workspace.yaml").read_text())
    module = workspace["load_from"][0]["python_module"]["module_name"]
    assert deployment["dagsterApiGrpcArgs"] == ["-m", module]
    assert values["concurrency"]["pools"] == {"defaultLimit": 1, "granularity": "op"}
    env = {e["name"] for e in deployment["env"]}
    assert {"INFRA_ASSETS_SOURCES", "INFRA_ASSETS_DATA_DIR"} <= env


def test_serving_deployment_is_ready_only_with_an_index():
    docs = {d["kind"]: d for d in load_all(DEPLOY / "k8s" / "serving.yaml")}
    (container,) = docs["Deployment"]["spec"]["template"]["spec"]["containers"]
    assert container["command"][:2] == ["infra-assets", "serve"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/healthz"
    assert docs["Service"]["spec"]["selector"] == docs["Deployment"]["spec"]["selector"]["matchLabels"]


def test_dockerfile_copies_what_exists_and_builds_with_the_install_script():
    text = (DEPLOY / "Dockerfile").read_text()
    for source in re.findall(r"^COPY (.+) \S+$", text, flags=re.M):
        for part in source.split():
            assert (ROOT / part).exists(), part
    assert "RUN sh deploy/install.sh" in text
    assert "infra_assets.definitions" in text


def test_install_scripts_build_check_runs_against_this_code(tmp_path):
    """The build check at the end of deploy/install.sh, with the environment it sets, in this
    checkout's venv. dagster-k8s is installed only into the image: an empty module stands in."""
    text = (DEPLOY / "install.sh").read_text()
    (code,) = re.findall(r'-c "\n(.*?)\n"\n', text, flags=re.S)
    code = code.replace("\\$", "$")  # the shell's escape inside the double-quoted program
    stub = tmp_path / "stub"
    stub.mkdir()
    if importlib.util.find_spec("dagster_k8s") is None:
        (stub / "dagster_k8s.py").write_text("")
    example = ROOT / "data" / "sources.example.yaml"
    assert f'INFRA_ASSETS_SOURCES="$HERE/{example.relative_to(ROOT)}"' in text
    env = dict(
        os.environ,
        INFRA_ASSETS_SOURCES=str(example),
        INFRA_ASSETS_DATA_DIR=str(tmp_path / "build-check"),
        PYTHONPATH=os.pathsep.join(filter(None, [str(stub), os.environ.get("PYTHONPATH")])),
    )
    env.pop("QDRANT_URL", None)
    out = subprocess.run(
        [sys.executable, "-c", code], check=False, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr[-3000:]
    n = len(load_sources(example).names)
    assert out.stdout.strip() == (
        f"build check: {3 * n + 1} assets, {n + 2} sensors, {n} schedules; packaged model answers with 384 "
        "dimensions; queries: int8-queries"
    ), out.stdout
