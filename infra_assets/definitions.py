"""The code location: the `defs/` folder, loaded lazily (nothing is read at import).

`dg` and `dagster dev` load `location`. When the folder declares only `WebSources` instances (as
shipped: `defs/web_sources/defs.yaml`), each is loaded through Dagster's component tree (its
YAML, templating and schema) and its definitions are built as they are; Dagster's own loader would
also attach code-reference metadata to every asset, sensor and schedule, which at 1,000 sources
is seconds more at every load and reload (BENCHMARKS.md, "Definitions load"). Anything else in the
folder (a Python module of assets, another component) and Dagster's loader builds it all.

For notebooks, `from infra_assets.definitions import defs` still gives the built `Definitions`
(`defs.load_asset_value(AssetKey(["clean", NAME]))`), built on first use and kept.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import dagster as dg
from dagster._core.definitions.definitions_load_context import DefinitionsLoadContext, DefinitionsLoadType
from dagster.components.core.component_tree import ComponentTree
from dagster.components.core.defs_module import (
    AppManagedDefinitionsComponent,
    ComponentRootComponent,
    CompositeYamlComponent,
    DefsFolderComponent,
    PythonFileComponent,
)
from dagster.components.core.load_defs import get_library_json_enriched_defs

from . import defs as defs_folder
from .components import WebSources, collector_paused
from .settings import Settings, project_root

CHECKOUT = Path(__file__).resolve().parent.parent
# Declarations that hold other declarations (the folders, a defs.yaml file) but no definitions.
STRUCTURE = (ComponentRootComponent, DefsFolderComponent, CompositeYamlComponent, AppManagedDefinitionsComponent)


def tree() -> ComponentTree:
    """The project's component tree: from its pyproject.toml in a checkout, else (installed as a
    package, as in the deploy image) from the defs package itself."""
    if (CHECKOUT / "pyproject.toml").is_file():
        return ComponentTree.for_project(path_within_project=CHECKOUT)
    return ComponentTree.from_module(defs_module=defs_folder, project_root=project_root())


def web_sources_only(components: ComponentTree) -> bool:
    """Whether every declaration in the folder is structure or a `WebSources` instance (Python
    files only as the packages' empty `__init__.py`)."""
    for loc, decl in components.find_root_decl().iterate_loc_component_decl_pairs():
        kind = decl.component_type
        if kind is PythonFileComponent:
            if Path(str(getattr(loc, "file_path_posix", ""))).name != "__init__.py":
                return False
        elif not (isinstance(kind, type) and issubclass(kind, (*STRUCTURE, WebSources))):
            return False
    return True


@dg.definitions
def location() -> dg.Definitions:
    # Dagster's loader (code server, run worker, `dg`) keeps the definitions for the life of its
    # process: frozen out of the cyclic collector there (`collector_paused`).
    with collector_paused(freeze=DefinitionsLoadContext.is_set()):
        return _load()


def _load() -> dg.Definitions:
    components = tree()
    if not web_sources_only(components):
        return components.build_defs()
    instances = components.get_all_components(of_type=WebSources)
    if len(instances) != 1:
        raise dg.DagsterInvariantViolationError(
            f"expected one WebSources instance in {components.defs_module_path}, found {len(instances)}"
        )
    settings = Settings.from_env(root=components.project_root)
    return dg.Definitions.merge(instances[0].build_definitions(settings), _tree_defs(components))


def _tree_defs(components: ComponentTree) -> dg.Definitions:
    """The component tree, and for the code server the component-type library the UI lists. A run
    worker reconstructing the definitions to execute a run skips the library (half a second of
    JSON schemas and sample YAML per run, read only by the UI)."""
    context = DefinitionsLoadContext.get() if DefinitionsLoadContext.is_set() else None
    if context is not None and context.load_type == DefinitionsLoadType.RECONSTRUCTION:
        return dg.Definitions(component_tree=components)
    return get_library_json_enriched_defs(components)


@cache
def _built() -> dg.Definitions:
    return location()


def __getattr__(name: str) -> Any:
    # Not a module attribute, so Dagster's loader (which looks at the module's members) finds
    # only `location`; `defs` is the notebook's name for the same definitions.
    if name == "defs":
        return _built()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
