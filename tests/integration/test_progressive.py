"""A large run's finished new documents are served while it embeds (`index.progressive`).

The real pieces: the packaged model, the embedded store, `sync_source`, `publish` and the
generations readers open. `every_s=0` publishes after every round of `EMBED_BATCH` chunks, so a
few hundred chunks give several interim generations; each is opened as the API opens it and
checked against the store's truth at that moment.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timezone
from pathlib import Path

import polars as pl
import pytest

from infra_assets.index import model_info
from infra_assets.index.chunking import chunker_for
from infra_assets.index.embedding import get_embedder
from infra_assets.index.progressive import InterimPublisher, interim_every
from infra_assets.index.sync import EMBED_BATCH, document_point_ids, expected_point_ids, sync_source
from infra_assets.store import EmbeddedLocation
from infra_assets.store.generations import DOCS_COLUMNS, publish, read_current, read_docs

SOURCE = "big"
MODEL = model_info("default")
CHUNKER = chunker_for(MODEL.name, MODEL.max_tokens)
TOPICS = ["tides", "glaciers", "volcanoes", "coral reefs", "deserts", "monsoons", "auroras"]


def text_of(i: int, rev: int = 0) -> str:
    topic = TOPICS[i % len(TOPICS)]
    body = f"Field note {i} (revision {rev}) on {topic}: observers logged {i * 7 % 97} readings near station {i}. "
    # Every fifth document is long enough for several chunks, so documents straddle rounds.
    return body * (30 if i % 5 == 0 else 1)


def clean(ids: list[int], revs: dict[int, int] | None = None) -> pl.DataFrame:
    now = datetime.now(timezone.utc)
    rows = []
    for i in ids:
        text = text_of(i, (revs or {}).get(i, 0))
        rows.append(
            {
                "url": f"https://big.example/{i}",
                "source": SOURCE,
                "title": f"Note {i}",
                "text": text,
                "content_hash": hashlib.sha256(text.encode()).hexdigest()[:16],
                "fetched_at": now,
                "changed_at": now,
            }
        )
    return pl.DataFrame(rows)


class Recording(InterimPublisher):
    """Records, after each interim publish, what the served generation holds."""

    def __init__(self, **kw):
        super().__init__(**kw)
        self.seen: list[dict] = []

    def __call__(self, ready_urls: set[str]) -> None:
        super().__call__(ready_urls)
        manifest = read_current(self.serving_dir)
        assert manifest is not None
        reader, hold = manifest.open(self.serving_dir)
        try:
            points = {pid: p["url"] for pid, p in reader.scan(SOURCE, ["url"])}
        finally:
            reader.close()
            if hold is not None:
                hold.close()
        docs = read_docs(self.serving_dir, manifest)
        assert docs is not None
        self.seen.append(
            {
                "version": manifest.version,
                "points": points,
                "docs": set(docs.filter(pl.col("source") == SOURCE)["url"].to_list()),
                "ready": set(ready_urls),
                "counted": manifest.sources[SOURCE].documents,
            }
        )


def run(tmp: Path, table: pl.DataFrame) -> tuple[Recording, EmbeddedLocation]:
    location = EmbeddedLocation(tmp / "qdrant")
    with location.writer(MODEL) as writer:
        publisher = Recording(
            serving_dir=tmp / "serving",
            location=location,
            writer=writer,
            model=MODEL,
            source=SOURCE,
            clean=table,
            sources=[SOURCE],
            every_s=0,
        )
        sync_source(SOURCE, table, writer, CHUNKER, get_embedder, MODEL.name, checkpoint=publisher)
    return publisher, location


def wanted(table: pl.DataFrame) -> dict[str, set[str]]:
    """URL → the point IDs of its chunks."""
    return {
        row["url"]: set(document_point_ids(SOURCE, row["url"], CHUNKER.chunk(row["title"], row["text"])))
        for row in table.iter_rows(named=True)
    }


def test_a_new_source_is_served_round_by_round_and_each_generation_is_whole(tmp_path):
    table = clean(list(range(240)))
    chunks = wanted(table)
    total = sum(map(len, chunks.values()))
    assert total > 3 * EMBED_BATCH

    publisher, location = run(tmp_path, table)

    # One interim generation per round but the last (serving/index publishes that).
    assert len(publisher.seen) == -(-total // EMBED_BATCH) - 1
    sizes = [len(g["points"]) for g in publisher.seen]
    assert sizes == [EMBED_BATCH * (n + 1) for n in range(len(sizes))]
    for gen in publisher.seen:
        held = set(gen["points"])
        finished = {url for url, ids in chunks.items() if ids <= held}
        # The document table lists exactly the documents whose every chunk is served.
        assert gen["docs"] == finished == gen["ready"]
        assert gen["counted"] == len(finished)
        assert held <= set().union(*chunks.values())
    assert publisher.first_searchable_s is not None
    assert publisher.published == [g["version"] for g in publisher.seen]

    # The end of the run publishes the whole source, as serving/index does.
    outcome = publish(tmp_path / "serving", location, MODEL, table.select(DOCS_COLUMNS), [SOURCE])
    assert outcome.published and outcome.manifest is not None
    assert outcome.manifest.points == total
    assert outcome.manifest.sources[SOURCE].documents == table.height
    with location.writer(MODEL) as store:
        assert {pid for pid, _ in store.scan(SOURCE)} == expected_point_ids(SOURCE, table, CHUNKER)


def test_a_changed_document_is_never_served_half_old_half_new(tmp_path):
    first = clean(list(range(60)))
    run(tmp_path, first)
    publish(tmp_path / "serving", EmbeddedLocation(tmp_path / "qdrant"), MODEL, first.select(DOCS_COLUMNS), [SOURCE])
    before = wanted(first)

    # 5 documents change and 150 new ones arrive: the new ones are served while they embed,
    # the changed ones only when the run ends.
    changed = [1, 2, 3, 10, 20]
    second = clean(list(range(210)), revs=dict.fromkeys(changed, 1))
    after = wanted(second)
    publisher, _ = run(tmp_path, second)

    new_chunks = sum(len(after[u]) for u in after if u not in before)
    assert len(publisher.seen) == new_chunks // EMBED_BATCH  # rounds made of new documents only
    assert publisher.seen
    for gen in publisher.seen:
        for i in changed:
            url = f"https://big.example/{i}"
            served = {pid for pid, u in gen["points"].items() if u == url}
            assert served == before[url], f"{url}: interim generation {gen['version']} mixes revisions"
            assert url in gen["docs"]  # still served as it was
        # Everything served before is still served.
        assert set().union(*before.values()) <= set(gen["points"])


def test_publish_every_turns_it_on_for_the_embedded_store_only(tmp_path):
    from infra_assets.store.server import ServerLocation

    assert interim_every(30, EmbeddedLocation(tmp_path)) == 30.0
    assert interim_every(0, EmbeddedLocation(tmp_path)) is None
    assert interim_every(30, ServerLocation(":memory:")) is None


@pytest.mark.parametrize(("value", "seconds"), [("off", 0), (0, 0), ("2m", 120), (45, 45)])
def test_publish_every_in_the_sources_file(value, seconds):
    from infra_assets.sources.spec import EmbeddingSpec

    assert EmbeddingSpec(publish_every=value).publish_every == seconds
    assert EmbeddingSpec().publish_every == 30
    with pytest.raises(ValueError, match="or off"):
        EmbeddingSpec(publish_every="soon")
