"""The Dagster shell: the `WebSources` component and what it builds (assets, checks, sensors,
schedules, resources, the IO manager). Everything below it (`sources`, `fetch`, `clean`,
`index`, `store`, `serve`) is Dagster-free.

`[tool.dg.project] registry_modules` names this package, so `dg list components` shows
`WebSources` and `dg scaffold defs infra_assets.components.WebSources NAME` makes an instance.
"""

from .web_sources import WebSources, build_definitions, collector_paused

__all__ = ["WebSources", "build_definitions", "collector_paused"]
