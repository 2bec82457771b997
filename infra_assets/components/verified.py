"""A refresh that finds nothing new needs no run.

`infra-assets refresh` first verifies each named source against the live web the way its change
sensor does, but over every document at once (`Rotation.everything()`). A source is then
recorded "verified, unchanged" without a Dagster run when all of these hold:

- its kind's detection sees everything a full collect would (`detects_fully`: not a site crawl);
- nothing of it differs and no check failed;
- no run of it is queued or running;
- Dagster's records say the chain is whole: each of `raw`, `clean`, `embeddings` and
  `serving/index` has been materialized with the definition it has now (code versions), each
  asset's last materialization was computed from its upstream's current data version, and the
  generation being served is the one `serving/index` last published (and the change log has it).

Anything else, including the first refresh and a run that failed half way, takes the full run as
before. The verification is recorded as the change sensor records one: in the status record, and
as materializations of the three chain assets that keep their data version (nothing downstream
runs) and carry their lineage forward, so Dagster's freshness and staleness read the same.

This module imports only Dagster and the Dagster-free core: it runs before the definitions are
built, and when every source is unchanged they are never built.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import dagster as dg

from .. import __version__
from ..sources.freshness import update_record
from ..sources.kinds import Detection
from ..sources.spec import Source, SourcesSpec
from .project import SERVING_KEY, chain_keys

TRIGGER_TAG = "infra_assets/trigger"
DATA_VERSION_TAG = "dagster/data_version"
CODE_VERSION_TAG = "dagster/code_version"
INPUT_VERSION_TAG = "dagster/input_data_version/"
LINEAGE_TAGS = (CODE_VERSION_TAG, INPUT_VERSION_TAG, "dagster/input_event_pointer/")
ACTIVE = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
]


def source_tag(name: str) -> str:
    """The run tag that says a run works on this source (one key per source: a run may do many)."""
    return f"infra_assets/source.{name}"


def busy(instance: dg.DagsterInstance, name: str) -> bool:
    """A run of this source is queued or running: don't pile another on top."""
    runs = dg.RunsFilter(tags={source_tag(name): "1"}, statuses=ACTIVE)
    return bool(instance.get_run_records(runs, limit=1))


def source_code_version(source: Source) -> str:
    """The code version of a source's `raw` and `clean` assets: its settings and this package's
    version, so an edited source (or an upgrade) is never taken as verified by its old output."""
    text = f"{__version__}\n{source.model_dump_json()}"
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def serving_code_version(spec: SourcesSpec, model_id: str) -> str:
    """The code version of `serving/index`: the set of sources, the model and the sources' tags
    (a change of any republishes; a removed source's documents leave the index)."""
    tag_lines = [f"{s.name}: {', '.join(s.tags)}" for s in spec.sources if s.tags]
    return hashlib.sha256("\n".join([*sorted(spec.names), model_id, *tag_lines]).encode()).hexdigest()[:12]


@dataclass(frozen=True)
class ChainVersions:
    """What the definitions would say now, without building them."""

    source: str  # raw and clean
    embeddings: str  # the collection
    serving: str

    def of(self, key: dg.AssetKey) -> str:
        stage = key.path[0]
        return {"raw": self.source, "clean": self.source, "embeddings": self.embeddings}.get(stage, self.serving)


def verification_tags(latest: Mapping[str, str] | None) -> dict[str, str] | None:
    """Tags of a "verified, unchanged" materialization: the last one's data version and lineage."""
    tags = {k: v for k, v in (latest or {}).items() if k == DATA_VERSION_TAG or k.startswith(LINEAGE_TAGS)}
    return tags or None


def stale_reason(
    instance: dg.DagsterInstance, name: str, versions: ChainVersions, serving_dir: Path, served: str | None
) -> str | None:
    """Why source `name` needs a run although the live source is unchanged; None when it does
    not (see the module's docstring). `served`: the version CURRENT names, if any."""
    keys = [*chain_keys(name), SERVING_KEY]
    tags: dict[dg.AssetKey, Mapping[str, str]] = {}
    for key in keys:
        event = instance.get_latest_materialization_event(key)
        if event is None or event.asset_materialization is None:
            return f"{key.to_user_string()} has never been materialized"
        tags[key] = event.asset_materialization.tags or {}
        if tags[key].get(CODE_VERSION_TAG) != versions.of(key):
            return f"{key.to_user_string()} was last materialized by a different definition"
    for up, down in itertools.pairwise(keys):
        if tags[down].get(INPUT_VERSION_TAG + up.to_user_string()) != tags[up].get(DATA_VERSION_TAG):
            return f"{down.to_user_string()} has not caught up with {up.to_user_string()}"
    if served is None or served != tags[SERVING_KEY].get(DATA_VERSION_TAG):
        return "the served generation is not the one serving/index last published"
    from ..changes.log import ChangeLog

    log = ChangeLog.of(serving_dir)
    if log.path.exists() and log.recorded_version() not in (None, served):
        return "the change log has not caught up with the served generation"
    return None


def record_verified(
    instance: dg.DagsterInstance, source: Source, data_dir: Path, detection: Detection, started: datetime
) -> None:
    """The verification, recorded as the change sensor records one (without its rate limit: a
    refresh is asked for)."""
    update_record(data_dir, source.name, last_attempt_at=started, last_verified_at=started, last_error=None)
    for key in chain_keys(source.name):
        latest = instance.get_latest_materialization_event(key)
        mat = latest.asset_materialization if latest is not None else None
        instance.report_runless_asset_event(
            dg.AssetMaterialization(
                asset_key=key,
                description="Verified against the live source by `infra-assets refresh`: unchanged.",
                metadata={"verified_unchanged": True, "documents_checked": detection.checked},
                tags=verification_tags(mat.tags if mat is not None else None),
            )
        )
