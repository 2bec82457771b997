"""The code location: the `defs/` folder, loaded lazily (nothing is read at import).

For notebooks, `from infra_assets.definitions import defs` still gives the built `Definitions`
(`defs.load_asset_value(AssetKey(["clean", NAME]))`), built on first use and kept.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import dagster as dg

from . import defs as defs_folder
from .settings import project_root

CHECKOUT = Path(__file__).resolve().parent.parent


@dg.definitions
def location() -> dg.Definitions:
    if (CHECKOUT / "pyproject.toml").is_file():  # a checkout (editable install): dg's own loader
        return dg.load_from_defs_folder(path_within_project=CHECKOUT)
    # Installed as a package (the deploy image): the same folder, without a project file.
    return dg.ComponentTree.from_module(defs_module=defs_folder, project_root=project_root()).build_defs()


@cache
def _built() -> dg.Definitions:
    return location()


def __getattr__(name: str) -> Any:
    # Not a module attribute, so Dagster's loader (which looks at the module's members) finds
    # only `location`; `defs` is the notebook's name for the same definitions.
    if name == "defs":
        return _built()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
