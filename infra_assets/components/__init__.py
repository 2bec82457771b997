"""The Dagster shell: the `WebSources` component and what it builds (assets, checks, sensors,
schedules, resources, the IO manager). Everything below it (`sources`, `fetch`, `clean`,
`index`, `store`, `serve`) is Dagster-free.

`[tool.dg.project] registry_modules` names this package, so `dg list components` shows
`WebSources` and `dg scaffold defs infra_assets.components.WebSources NAME` makes an instance.

The names below load on first use: `infra-assets refresh` reads a few Dagster records through
`components.verified` before it knows whether it needs the definitions at all.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..runtime import collector_paused

if TYPE_CHECKING:
    from .web_sources import WebSources, build_definitions

__all__ = ["WebSources", "build_definitions", "collector_paused"]
_LAZY = ("WebSources", "build_definitions")


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from . import web_sources

        return getattr(web_sources, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
