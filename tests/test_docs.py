"""The prose matches the code: every test the README names exists, every variable the settings
read is documented, every command the README lists is a command."""

from __future__ import annotations

import re
from pathlib import Path

from infra_assets import settings
from infra_assets.cli.main import main

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", ROOT / "docs" / "architecture.md", ROOT / "docs" / "scaling.md", ROOT / "BENCHMARKS.md"]


def test_every_test_the_docs_cite_exists():
    missing = []
    for doc in DOCS:
        for path, name in re.findall(r"(tests/[\w/]+\.py)(?:::(\w+))?", doc.read_text()):
            file = ROOT / path
            if not file.is_file() or (name and not re.search(rf"def {name}\b", file.read_text())):
                missing.append(f"{doc.name}: {path}::{name}")
    assert missing == []


def test_every_setting_is_in_the_readme():
    readme = (ROOT / "README.md").read_text()
    variables = {v for k, v in vars(settings).items() if k.isupper() and isinstance(v, str) and v.isupper()}
    assert {"INFRA_ASSETS_SOURCES", "QDRANT_URL"} <= variables
    assert sorted(v for v in variables if f"`{v}`" not in readme) == []


def test_every_command_in_the_readme_exists():
    readme = (ROOT / "README.md").read_text()
    listed = set(re.findall(r"^\| `infra-assets (\w+)", readme, flags=re.M))
    assert listed == set(main.commands)
