"""Published generations of a small real index, written the way `embeddings/NAME` and
`serving/index` write them: for the tests of hot swaps, cleanup and shard processes."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import polars as pl

from infra_assets.index import model_info, point_id
from infra_assets.store import ChunkPoint, EmbeddedLocation, EmbeddedStore, chunk_payload
from infra_assets.store.generations import Manifest, publish

TEXTS = [
    f"{thing} {fact}"
    for thing in ("Bees", "Pigeons", "Salmon", "Turtles", "Ants", "Bats")
    for fact in (
        "navigate by the sun.",
        "sense magnetic fields.",
        "remember landmarks.",
        "follow scent trails.",
        "return to where they were born.",
    )
]


def publish_revision(data_dir: Path, vectors, rev: int) -> Manifest:
    """Write every text (revision `rev` in the payload: a changed store) and publish it, the way
    `embeddings/NAME` and `serving/index` do; the manifest of the new generation."""
    model = model_info()
    qdrant = data_dir / "qdrant"
    now = datetime.now(timezone.utc).isoformat()
    urls = [f"https://facts.example.org/{i}" for i in range(len(TEXTS))]
    # The writer bumps the store's version token before its first write: a new shard to publish.
    with EmbeddedStore.open_writer(qdrant / model.collection, model.dim) as store:
        store.upsert(
            [
                ChunkPoint(
                    point_id("facts", url, "c"),
                    vector.tolist(),
                    chunk_payload(
                        source="facts",
                        url=url,
                        title=f"fact {i} rev {rev}",
                        text=text,
                        position=0,
                        chunk_hash=f"{rev}",
                        doc_hash=f"{rev}",
                        fetched_at=now,
                        changed_at=now,
                        model=model.resolved,
                    ),
                )
                for i, (url, text, vector) in enumerate(zip(urls, TEXTS, vectors))
            ]
        )
    docs = pl.DataFrame(
        {
            "url": urls,
            "source": "facts",
            "title": [f"fact {i} rev {rev}" for i in range(len(urls))],
            "fetched_at": now,
            "changed_at": now,
        }
    )
    outcome = publish(data_dir / "serving", EmbeddedLocation(qdrant), model, docs, ["facts"])
    assert outcome.published and outcome.manifest is not None and outcome.manifest.copied
    return outcome.manifest


def api_env(monkeypatch, tmp_path: Path) -> Path:
    """The environment the API reads: a data folder under `tmp_path` (returned), no sources file,
    no key, the embedded store, shards in child processes (the API's default)."""
    data = tmp_path / "data"
    monkeypatch.setenv("INFRA_ASSETS_DATA_DIR", str(data))
    monkeypatch.setenv("INFRA_ASSETS_SOURCES", str(tmp_path / "sources.yaml"))  # absent: no sources
    for var in ("INFRA_ASSETS_API_KEY", "INFRA_ASSETS_SHARD_PROCESS", "QDRANT_URL"):
        monkeypatch.delenv(var, raising=False)
    return data


def shards(data_dir: Path) -> set[str]:
    """The shard folders under the data folder's `serving/shards/`."""
    return {p.name for p in (data_dir / "serving" / "shards").iterdir()}
