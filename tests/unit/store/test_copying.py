"""Publishing a generation links the files the previous copy's manifest shows unchanged without
reading them; every generation must still hold exactly the writer's bytes at its copy."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from infra_assets.store import ChunkPoint, EmbeddedReader, EmbeddedStore, StoreQuery, copying
from infra_assets.store.copying import MANIFEST, filesystem_type, read_manifest

from .test_store import DIM, points

pytestmark = pytest.mark.skipif(
    not copying.trusts_file_times(Path(__file__)), reason="this filesystem's times are not trusted"
)


def segment_bytes(shard: Path) -> dict[str, bytes]:
    root = shard / "segments"
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def counted(monkeypatch):
    """Bytes read in full to prove files identical, per copy (`same_bytes` calls)."""
    reads: list[int] = []
    real = copying.same_bytes

    def same_bytes(a: Path, b: Path, block: int = 1 << 20) -> bool:
        reads.append(a.stat().st_size)
        return real(a, b, block)

    monkeypatch.setattr(copying, "same_bytes", same_bytes)
    monkeypatch.setattr(copying, "SETTLED_NS", 40_000_000)  # 40 ms: keeps the test short
    return reads


def test_random_changes_every_generation_holds_the_writers_bytes(tmp_path, counted):
    """Random upserts, payload edits, deletes and graph builds, published at random gaps (some
    within the settling margin, some past it): each new generation equals the writer byte for
    byte, and once the files have settled the unchanged ones are linked unread."""
    rng = random.Random(7)
    shards = tmp_path / "shards"
    shards.mkdir()
    base = points("a", 2500)
    unread_links = 0
    with EmbeddedStore.open_writer(tmp_path / "coll", DIM) as store:
        store.upsert(base)
        alive = {p.id for p in base}
        previous = shards / "coll-0"
        store.copy_to(previous, 1)
        for step in range(1, 25):
            op = rng.choice(["upsert", "payload", "delete", "graph", "nothing"])
            picked = rng.sample(base, 10)  # deleted ones come back with an upsert
            if op == "upsert":
                store.upsert(
                    [ChunkPoint(p.id, list(reversed(p.vector)), {**p.payload, "text": f"v{step}"}) for p in picked]
                )
                alive.update(p.id for p in picked)
            elif op == "payload":
                store.set_payload(sorted(alive)[step], {"text": f"edited {step}"})
            elif op == "delete":
                store.delete([p.id for p in picked])
                alive.difference_update(p.id for p in picked)
            elif op == "graph":
                store.build_graph()
            time.sleep(rng.choice([0, 0, 0.005, 0.06]))
            dest = shards / f"coll-{step}"
            counted.clear()
            _, written, linked = store.copy_to(dest, 1, previous)
            assert segment_bytes(dest) == segment_bytes(tmp_path / "coll"), f"step {step} ({op})"
            figures = store.last_copy
            assert figures is not None and figures.written == written and figures.compared <= sum(counted)
            unread_links += linked - figures.compared
            previous = dest
    assert unread_links > 0, "no file was ever linked from the manifest"
    # Every generation still answers with its own points after the writer moved on.
    reader = EmbeddedReader.open(shards / "coll-1")
    try:
        assert reader.count() > 0 and reader.search(StoreQuery(base[-1].vector, 1, None))
    finally:
        reader.close()


@contextmanager
def two_copies(tmp_path: Path) -> Iterator[tuple[EmbeddedStore, Path, Path]]:
    """A writer of 800 points and two generations of it, the second copied from the first past
    the settling margin (so its manifest records every file settled)."""
    shards = tmp_path / "shards"
    shards.mkdir()
    with EmbeddedStore.open_writer(tmp_path / "coll", DIM) as store:
        store.upsert(points("a", 800))
        g1, g2 = shards / "coll-1", shards / "coll-2"
        store.copy_to(g1, 1)
        time.sleep(0.06)
        store.copy_to(g2, 1, g1)
        yield store, g1, g2


def test_a_changed_previous_copy_is_never_linked_blindly(tmp_path, counted):
    """A file of the previous generation that is not the one its manifest recorded (written after
    publishing, here on purpose) is compared, found different and copied, not linked."""
    with two_copies(tmp_path) as (store, _, g2):
        victim = max((p for p in (g2 / "segments").rglob("*") if p.is_file()), key=lambda p: p.stat().st_size)
        with victim.open("r+b") as f:  # in place, as a stray writer through a map would
            f.seek(victim.stat().st_size // 2)
            byte = f.read(1)
            f.seek(-1, 1)
            f.write(bytes([byte[0] ^ 0xFF]))
        g3 = g2.with_name("coll-3")
        store.copy_to(g3, 1, g2)
        assert segment_bytes(g3) == segment_bytes(tmp_path / "coll")


def test_untrusted_filesystem_compares_every_file(tmp_path, counted, monkeypatch):
    """Where file times are not trusted (tmpfs, no mountinfo), nothing is linked unread."""
    monkeypatch.setattr(copying, "trusts_file_times", lambda path: False)
    with two_copies(tmp_path) as (store, g1, _):
        figures = store.last_copy
        assert figures is not None and figures.linked > 0 and figures.compared == figures.linked
    assert read_manifest(g1) and (g1 / MANIFEST).exists()


def test_filesystem_type_reads_the_mount_table(tmp_path):
    assert filesystem_type(tmp_path) is not None
    assert filesystem_type(Path("/proc/self")) == "proc"
