"""Where the shared test corpora are (read in place, never copied into the repository)."""

from __future__ import annotations

from pathlib import Path

from ..settings import Settings


def corpora_dir(env: Settings | None = None) -> Path:
    """INFRA_ASSETS_CORPORA, else the nearest `shared/corpora` beside the project or one of its
    parent folders."""
    env = env or Settings.from_env()
    if env.corpora_dir is not None:
        return env.corpora_dir
    root = Path(__file__).resolve().parents[2]
    for folder in root.parents:
        if (folder / "shared" / "corpora").is_dir():
            return folder / "shared" / "corpora"
    return root.parent / "shared" / "corpora"
