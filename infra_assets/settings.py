"""The environment → `Settings`: the one module that reads `INFRA_ASSETS_*` (and `QDRANT_*`).

Read once, at the edge (the CLI, the API's app factory, the Dagster component, a test), and
handed down as values: nothing below this module looks at `os.environ`, and nothing is read at
import time, so tests and notebooks point the project elsewhere by setting variables before they
build what they use. `tests/test_layers.py` fails if another module reads the environment.

The component's `defs/web_sources/defs.yaml` names the sources file through Dagster's own
`env(...)` template with the same variable and default as `sources_path` here.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

# The settings a user may set, with the meaning the README's table gives them.
SOURCES = "INFRA_ASSETS_SOURCES"
DATA_DIR = "INFRA_ASSETS_DATA_DIR"
API_KEY = "INFRA_ASSETS_API_KEY"
KEYS_FILE = "INFRA_ASSETS_KEYS_FILE"
QDRANT_URL = "QDRANT_URL"
QDRANT_API_KEY = "QDRANT_API_KEY"
SHARD_PROCESS = "INFRA_ASSETS_SHARD_PROCESS"
SEARCH_THREADS = "INFRA_ASSETS_SEARCH_THREADS"
QUERY_INT8 = "INFRA_ASSETS_QUERY_INT8"
QUERY_PARALLEL = "INFRA_ASSETS_QUERY_PARALLEL"
SOLO_THREADS = "INFRA_ASSETS_SOLO_THREADS"
EMBED_THREADS = "INFRA_ASSETS_EMBED_THREADS"
EMBED_DEVICE = "INFRA_ASSETS_EMBED_DEVICE"
CORPORA = "INFRA_ASSETS_CORPORA"
CHROMIUM = "INFRA_ASSETS_CHROMIUM"
LOG_FORMAT = "INFRA_ASSETS_LOG_FORMAT"
# OpenTelemetry's own names: the traces endpoint as is, or the base endpoint + /v1/traces.
OTLP_TRACES_ENDPOINT = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
OTLP_ENDPOINT = "OTEL_EXPORTER_OTLP_ENDPOINT"
DEFAULT_SOURCES = Path("data") / "sources.yaml"

_FALSE = ("0", "false", "no", "off")


class SettingsError(ValueError):
    """An environment variable this project reads holds a value it cannot use."""


@dataclass(frozen=True)
class Settings:
    """Paths, endpoints and tuning from the environment; paths are absolute."""

    root: Path
    sources_path: Path
    data_dir: Path
    qdrant_url: str | None = None
    # Secrets stay out of reprs, so logging a Settings (or an error holding one) cannot leak them.
    qdrant_api_key: str | None = field(default=None, repr=False)
    api_key: str | None = field(default=None, repr=False)
    # Scoped API keys (`serve/keys.py`): a YAML file of key hashes, their sources and rates.
    keys_file: Path | None = None
    # The API opens each generation's edge shard in a child process (`serve/shard_process.py`).
    shard_process: bool = True
    # Threads of each published edge generation's own search pool, written when it is published.
    search_threads: int = 1
    # Queries embedded on the int8 query graph (`index/query_graph`); False: the passage graph.
    query_int8: bool = True
    # Query model calls running at once, and the threads of a lone query's session
    # (`serve/query_vectors.py`); None: the defaults derived from the machine's cores there.
    query_parallel: int | None = None
    solo_threads: int | None = None
    # onnxruntime threads for embedding passages in runs; None: onnxruntime's choice.
    embed_threads: int | None = None
    # Where runs embed passages: `cpu`, or `cuda` (the `[gpu]` extra's onnxruntime-gpu).
    embed_device: str = "cpu"
    # Where the shared test corpora are (tests and benches only); None: found beside the project.
    corpora_dir: Path | None = None
    # The Chromium that `render:` runs; None: the first of fetch.render's candidates found.
    chromium: str | None = None
    # `text` or `json` (JSON lines), for this project's own processes (`logs.py`).
    log_format: str = "text"
    # Where OpenTelemetry traces go (OTLP/HTTP); None: tracing off (`tracing.py`).
    otlp_traces_url: str | None = None

    @property
    def tables_dir(self) -> Path:
        return self.data_dir / "tables"

    @property
    def qdrant_dir(self) -> Path:
        return self.data_dir / "qdrant"

    @property
    def serving_dir(self) -> Path:
        return self.data_dir / "serving"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, root: Path | None = None) -> Settings:
        """Read every variable once; a bad value raises `SettingsError` naming it."""
        env = os.environ if env is None else env
        root = root or project_root()

        def path(var: str, default: Path) -> Path:
            value = env.get(var)
            return (Path(value).expanduser() if value else default).resolve()

        corpora = env.get(CORPORA)
        return cls(
            root=root,
            sources_path=path(SOURCES, root / DEFAULT_SOURCES),
            data_dir=path(DATA_DIR, root / "data"),
            qdrant_url=env.get(QDRANT_URL) or None,
            qdrant_api_key=env.get(QDRANT_API_KEY) or None,
            api_key=env.get(API_KEY) or None,
            keys_file=Path(env[KEYS_FILE]).expanduser().resolve() if env.get(KEYS_FILE) else None,
            shard_process=_flag(env, SHARD_PROCESS, True),
            search_threads=_positive_int(env, SEARCH_THREADS) or 1,
            query_int8=_flag(env, QUERY_INT8, True),
            query_parallel=_positive_int(env, QUERY_PARALLEL),
            solo_threads=_positive_int(env, SOLO_THREADS),
            embed_threads=_positive_int(env, EMBED_THREADS),
            embed_device=_choice(env, EMBED_DEVICE, ("cpu", "cuda"), "cpu"),
            corpora_dir=Path(corpora).expanduser().resolve() if corpora else None,
            chromium=env.get(CHROMIUM) or None,
            log_format=_choice(env, LOG_FORMAT, ("text", "json"), "text"),
            otlp_traces_url=env.get(OTLP_TRACES_ENDPOINT)
            or (env[OTLP_ENDPOINT].rstrip("/") + "/v1/traces" if env.get(OTLP_ENDPOINT) else None),
        )


def _choice(env: Mapping[str, str], var: str, allowed: tuple[str, ...], default: str) -> str:
    value = (env.get(var) or default).strip().lower()
    if value not in allowed:
        raise SettingsError(f"{var}={env.get(var)!r}: expected one of {', '.join(allowed)}")
    return value


def settings() -> Settings:
    """The settings of this process's environment, read now."""
    return Settings.from_env()


def project_root() -> Path:
    """The folder holding the project's `dagster.yaml` and `data/`.

    The working directory when it looks like the project, else the checkout this package was
    installed from (editable installs), else the working directory.
    """
    cwd = Path.cwd()
    if (cwd / "dagster.yaml").exists() or (cwd / DEFAULT_SOURCES).exists():
        return cwd
    checkout = Path(__file__).resolve().parent.parent
    if (checkout / "dagster.yaml").exists() and (checkout / "pyproject.toml").exists():
        return checkout
    return cwd


def export(current: Settings) -> dict[str, str]:
    """Make this process's environment say what `current` says, with absolute paths, for the
    processes `up` starts and for Dagster in `refresh`: the project's own Dagster instance unless
    DAGSTER_HOME names another. Returns the environment to start child processes with."""
    os.environ.setdefault("DAGSTER_HOME", str(current.root))
    os.environ[SOURCES] = str(current.sources_path)
    os.environ[DATA_DIR] = str(current.data_dir)
    Path(os.environ["DAGSTER_HOME"]).mkdir(parents=True, exist_ok=True)
    return dict(os.environ)


def _flag(env: Mapping[str, str], var: str, default: bool) -> bool:
    raw = env.get(var, "").strip().lower()
    return default if not raw else raw not in _FALSE


def _positive_int(env: Mapping[str, str], var: str) -> int | None:
    raw = env.get(var, "").strip()
    if not raw:
        return None
    if not raw.isdigit() or int(raw) < 1:
        raise SettingsError(f"{var}={raw!r}: expected a whole number of at least 1")
    return int(raw)


def environ() -> Mapping[str, str]:
    """The live environment, for the values the sources file names by variable (a webhook's
    `secret_env`): read when used, so a secret set or rotated later is picked up."""
    return os.environ


def cache_dirs() -> list[Path]:
    """Where derived files (the int8 query graph) are kept, in order of preference:
    $XDG_CACHE_HOME/infra-assets (~/.cache/infra-assets), then a per-user folder under the
    temporary directory (used when the first is read-only). Read when first needed."""
    import tempfile

    user = os.getuid() if hasattr(os, "getuid") else "user"
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return [Path(base) / "infra-assets", Path(tempfile.gettempdir()) / f"infra-assets-{user}"]
