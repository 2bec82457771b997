"""The shape of the package: a Dagster-free core laid out by stage, one module reading the
environment, and the public face `import infra_assets` pins."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

import infra_assets

PACKAGE = Path(infra_assets.__file__).resolve().parent
# The Dagster shell and the programs on top of the core; everything else is core.
SHELL = ("components", "defs", "definitions", "cli")


def modules() -> list[str]:
    names = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts.pop()
        if parts[-1] == "__main__":
            continue
        names.append(".".join(parts))
    return names


CORE = [m for m in modules() if m.split(".")[1:2] and m.split(".")[1] not in SHELL]


def test_the_core_is_every_stage():
    stages = {m.split(".")[1] for m in CORE}
    assert {"sources", "fetch", "clean", "index", "store", "serve", "settings", "tables"} <= stages


PACKAGES = sorted({m.split(".")[1] for m in CORE})


@pytest.mark.parametrize("package", PACKAGES)
def test_no_core_module_imports_dagster(package):
    """Every module of a core package, imported in a fresh interpreter, leaves `dagster` unloaded;
    the first module that would pull it in is named."""
    names = [m for m in CORE if m.split(".")[1] == package]
    probe = (
        "import importlib, json, sys\n"
        "for name in json.loads(sys.argv[1]):\n"
        "    importlib.import_module(name)\n"
        "    if any(m.split('.')[0] == 'dagster' for m in sys.modules):\n"
        "        print(name); break\n"
    )
    out = subprocess.run([sys.executable, "-c", probe, json.dumps(names)], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"{out.stdout.strip()} imports dagster"


def test_the_probe_sees_dagster_where_it_is_imported():
    """The probe above can fail: the Dagster shell is seen importing it."""
    code = "import sys, infra_assets.components.project; print(any(m.split('.')[0] == 'dagster' for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True"


def _reads_environment(tree: ast.AST) -> list[int]:
    lines = []
    for node in ast.walk(tree):
        reads = isinstance(node, ast.Attribute) and node.attr in ("environ", "getenv", "putenv")
        imports = isinstance(node, ast.ImportFrom) and node.module == "os"
        if reads or (imports and any(alias.name in ("environ", "getenv") for alias in node.names)):
            lines.append(node.lineno)
    return lines


def test_only_the_settings_module_reads_the_environment():
    offenders = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        if path == PACKAGE / "settings.py":
            continue
        lines = _reads_environment(ast.parse(path.read_text(), str(path)))
        if lines:
            offenders[str(path.relative_to(PACKAGE))] = lines
    assert offenders == {}


def test_the_check_finds_an_environment_read():
    assert _reads_environment(ast.parse("import os\nx = os.environ.get('A')\n")) == [2]
    assert _reads_environment(ast.parse("from os import getenv\n")) == [1]


def test_the_shard_process_imports_no_web_framework():
    """The shard child imports `serve.shard_process`: it must not pull in FastAPI or pydantic."""
    code = (
        "import sys, infra_assets.serve.shard_process; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'fastapi', 'pydantic', 'dagster', 'polars'}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


KIND_NAMES = ("page", "sitemap", "feed", "json")
KIND_HOMES = ("sources/kinds", "sources/spec.py")  # the registry, the modules and the spec


def _dispatches_on_kind(tree: ast.AST) -> list[int]:
    """Lines comparing something named `kind` with a kind's name (`kind == "feed"`, `.kind in (...)`)."""
    lines = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Compare):
            continue
        operands = [node.left, *node.comparators]
        named_kind = any(
            (isinstance(o, ast.Name) and o.id == "kind") or (isinstance(o, ast.Attribute) and o.attr == "kind")
            for o in operands
        )
        literals = {
            c.value for o in operands for c in ast.walk(o) if isinstance(c, ast.Constant) and isinstance(c.value, str)
        }
        if named_kind and literals & set(KIND_NAMES):
            lines.append(node.lineno)
    return lines


def test_only_the_kind_registry_dispatches_on_kind():
    offenders = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).as_posix()
        if rel.startswith(KIND_HOMES) or rel.startswith("demo/"):
            continue
        lines = _dispatches_on_kind(ast.parse(path.read_text(), str(path)))
        if lines:
            offenders[rel] = lines
    assert offenders == {}


def test_the_kind_check_finds_a_dispatch():
    assert _dispatches_on_kind(ast.parse("if source.kind == 'feed': pass\n")) == [1]
    assert _dispatches_on_kind(ast.parse("ok = kind in ('page', 'json')\n")) == [1]
    assert _dispatches_on_kind(ast.parse("ok = kind == 'fragment'\n")) == []
