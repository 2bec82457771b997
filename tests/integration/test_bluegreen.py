"""A new collection (new model or point schema) is served only once it is complete: blue/green.

Both stores: the embedded one and the server path through qdrant-client's in-process mode. Two
vector spaces are stood in for by two ModelInfo values (only their collection names matter to
publishing); the points are real points in real stores.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timezone

import numpy as np
import polars as pl
import pytest

from infra_assets.store import (
    ChunkPoint,
    Counts,
    EmbeddedLocation,
    EmbeddedStore,
    ModelInfo,
    StoreLocation,
    chunk_payload,
)
from infra_assets.store.generations import publish, read_current
from infra_assets.store.server import SERVED_ALIAS, ServerLocation

OLD = ModelInfo("old", "test/old-model", 8, 256)
NEW = ModelInfo("new", "test/new-model", 8, 256)
NOW = datetime.now(timezone.utc).isoformat()


def points(source: str, n: int) -> list[ChunkPoint]:
    rng = np.random.default_rng(abs(hash(source)) % 2**32)
    out = []
    for i in range(n):
        vector = rng.normal(size=8)
        out.append(
            ChunkPoint(
                str(uuid.uuid4()),
                (vector / np.linalg.norm(vector)).tolist(),
                chunk_payload(
                    source=source,
                    url=f"https://{source}.example/{i}",
                    title=f"{source} {i}",
                    text=f"text {i}",
                    position=0,
                    chunk_hash=f"h{i}",
                    doc_hash=f"d{i}",
                    fetched_at=NOW,
                    changed_at=NOW,
                    model="m",
                ),
            )
        )
    return out


def docs(sources: dict[str, int]) -> pl.DataFrame:
    rows = [
        {"url": f"https://{s}.example/{i}", "source": s, "title": f"{s} {i}", "fetched_at": NOW, "changed_at": NOW}
        for s, n in sources.items()
        for i in range(n)
    ]
    return pl.DataFrame(rows)


@pytest.fixture(params=["embedded", "server"])
def location(request, tmp_path, monkeypatch):
    if request.param == "embedded":
        yield EmbeddedLocation(tmp_path / "qdrant")
        return
    from infra_assets.store import server

    monkeypatch.setattr(server, "_clients", {})
    yield ServerLocation(":memory:")


def write(location: StoreLocation, model: ModelInfo, source: str, n: int) -> None:
    if location.mode == "server":
        from infra_assets.store.server import ServerStore, client_for

        store = ServerStore(client_for(location.url), model.collection)
        store.ensure(model.dim)
        store.upsert(points(source, n))
        return
    with EmbeddedStore.open_writer(location.qdrant_dir / model.collection, model.dim) as store:
        store.upsert(points(source, n))


def test_a_new_collection_is_served_only_when_every_source_is_in_it(location, tmp_path):
    root = tmp_path / "serving"
    table = docs({"a": 3, "b": 2})
    write(location, OLD, "a", 3)
    write(location, OLD, "b", 2)
    first = publish(root, location, OLD, table, ["a", "b"])
    assert first.published and first.manifest.collection == OLD.collection

    # The model changes: source a is re-embedded first. Serving must stay on the old collection.
    write(location, NEW, "a", 3)
    held = publish(root, location, NEW, table, ["a", "b"])
    assert not held.published and held.waiting_for == ["b"] and held.next_collection == NEW.collection
    assert held.manifest == first.manifest  # the generation still served
    assert read_current(root).collection == OLD.collection
    assert read_current(root).version == first.manifest.version

    # Once b is in the new collection too, the switch happens in one step.
    write(location, NEW, "b", 2)
    switched = publish(root, location, NEW, table, ["a", "b"])
    assert switched.published and read_current(root).collection == NEW.collection
    assert read_current(root).sources == {"a": Counts(documents=3, chunks=3), "b": Counts(documents=2, chunks=2)}
    if location.mode == "server":
        from infra_assets.store.server import client_for

        aliases = {a.alias_name: a.collection_name for a in client_for(":memory:").get_aliases().aliases}
        assert aliases[SERVED_ALIAS] == NEW.collection


def test_a_source_without_documents_does_not_hold_the_switch(location, tmp_path):
    root = tmp_path / "serving"
    write(location, OLD, "a", 2)
    publish(root, location, OLD, docs({"a": 2}), ["a", "empty"])
    write(location, NEW, "a", 2)
    assert publish(root, location, NEW, docs({"a": 2}), ["a", "empty"]).published
