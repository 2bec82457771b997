"""Serving generations on a Qdrant server, so a serving replica needs no shared volume.

With `QDRANT_URL`, a generation's points are already on the server; what else a replica needs is
small: the generation's `manifest.json` and `docs.parquet` (a few MB). After each publish the
publisher copies both into the payload-only collection `infra_assets_generations`, then moves
its pointer; a replica's API (`GenerationSync`, a thread beside the watcher) sees the pointer move,
downloads the two files, checks their sha256, writes them as a local generation and then its
local `CURRENT`, and the watcher swaps to it as it does on the publisher.

- Parts first (the parquet file in 1 MB pieces, points keyed by version and part), the
  generation's manifest point next, the pointer (one point, `current`) last: a copy cut off half
  way is never named, and the next publish (every run calls it) writes it again.
- A replica only moves forward (versions are UTC timestamps): a publisher's own API, which shares
  the folder, never goes back to an older version named on the server before its newest copy lands.
- The server keeps the current and the previous generation's copy, as the folder does.
- Only server-mode generations (`mode: server`): an embedded store's shard lives in the folder.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import shutil
import threading
import uuid
from pathlib import Path
from typing import Any

from qdrant_client import QdrantClient, models

from .generations import KEEP_GENERATIONS, ServingPaths, cleanup

log = logging.getLogger("infra_assets.store")

GENERATIONS = "infra_assets_generations"
PART_BYTES = 1 << 20
SYNC_S = 1.0
_NS = uuid.UUID("6f1d2c55-93a4-4f0b-8a8e-2b7c1b9e4d10")
_POINTER = str(uuid.uuid5(_NS, "current"))


def _id(version: str, what: str) -> str:
    return str(uuid.uuid5(_NS, f"{version}\n{what}"))


def _exists(client: QdrantClient) -> bool:
    try:
        return bool(client.collection_exists(GENERATIONS))
    except Exception:
        return False


def upload(client: QdrantClient, root: Path) -> str | None:
    """Copy the folder's current generation to the server (when it is a server one and not there
    yet); the version copied, or None."""
    paths = ServingPaths(root)
    try:
        version = paths.current.read_text().strip()
    except FileNotFoundError:
        return None
    gen = paths.generations / version
    manifest = json.loads((gen / "manifest.json").read_text())
    if manifest.get("mode") != "server":
        return None
    if not _exists(client):
        client.create_collection(GENERATIONS, vectors_config={})
        for field in ("version", "kind"):
            client.create_payload_index(GENERATIONS, field, field_schema=models.PayloadSchemaType.KEYWORD)
    pointer = _pointer(client)
    if pointer is not None and pointer.get("version") == version:
        return None
    data = (gen / "docs.parquet").read_bytes()
    parts = [data[i : i + PART_BYTES] for i in range(0, len(data), PART_BYTES)] or [b""]
    client.upsert(
        GENERATIONS,
        [
            models.PointStruct(
                id=_id(version, f"part {i}"),
                vector={},
                payload={"version": version, "kind": "part", "part": i, "data": base64.b64encode(part).decode()},
            )
            for i, part in enumerate(parts)
        ],
    )
    head = {
        "version": version,
        "kind": "manifest",
        "manifest": manifest,
        "parts": len(parts),
        "docs_sha256": hashlib.sha256(data).hexdigest(),
    }
    client.upsert(GENERATIONS, [models.PointStruct(id=_id(version, "manifest"), vector={}, payload=head)])
    client.upsert(
        GENERATIONS, [models.PointStruct(id=_POINTER, vector={}, payload={"kind": "pointer", "version": version})]
    )
    _prune(client, version)
    return version


def _pointer(client: QdrantClient) -> dict[str, Any] | None:
    if not _exists(client):
        return None
    found = client.retrieve(GENERATIONS, [_POINTER], with_payload=True)
    return dict(found[0].payload or {}) if found else None


def _is(key: str, value: str) -> models.FieldCondition:
    return models.FieldCondition(key=key, match=models.MatchValue(value=value))


def _prune(client: QdrantClient, current: str) -> None:
    heads, _ = client.scroll(
        GENERATIONS,
        scroll_filter=models.Filter(
            must=[models.FieldCondition(key="kind", match=models.MatchValue(value="manifest"))]
        ),
        limit=1000,
        with_payload=["version"],
    )
    versions = sorted({str((p.payload or {}).get("version")) for p in heads} | {current}, reverse=True)
    for old in versions[KEEP_GENERATIONS:]:
        client.delete(
            GENERATIONS,
            models.FilterSelector(filter=models.Filter(must=[_is("version", old)])),
        )


def download(client: QdrantClient, root: Path) -> str | None:
    """Make the server's current generation this folder's current one, when it is newer; the
    version written, or None (nothing newer, or its copy is not complete)."""
    pointer = _pointer(client)
    if not pointer:
        return None
    version = str(pointer["version"])
    paths = ServingPaths(root)
    try:
        local = paths.current.read_text().strip()
    except FileNotFoundError:
        local = ""
    if local >= version:
        return None
    found = client.retrieve(GENERATIONS, [_id(version, "manifest")], with_payload=True)
    if not found:
        return None
    head = dict(found[0].payload or {})
    ids = [_id(version, f"part {i}") for i in range(int(head["parts"]))]
    pieces = {int((p.payload or {})["part"]): (p.payload or {})["data"] for p in client.retrieve(GENERATIONS, ids)}
    if len(pieces) != len(ids):
        return None
    data = b"".join(base64.b64decode(pieces[i]) for i in range(len(ids)))
    if hashlib.sha256(data).hexdigest() != head["docs_sha256"]:
        log.warning("generation %s on the server does not match its checksum; waiting for the next", version)
        return None
    gen = paths.generations / version
    if not gen.exists():
        tmp = gen.with_name(version + ".partial")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        (tmp / "docs.parquet").write_bytes(data)
        (tmp / "manifest.json").write_text(json.dumps(head["manifest"], indent=2))
        os.replace(tmp, gen)
    paths.current.parent.mkdir(parents=True, exist_ok=True)
    staged = paths.current.with_name("CURRENT.tmp")
    staged.write_text(version)
    os.replace(staged, paths.current)
    cleanup(root)
    return version


class GenerationSync:
    """In a replica's API: follows the server's current generation into the local folder."""

    def __init__(self, client: QdrantClient, root: Path, poll_s: float = SYNC_S):
        self.client = client
        self.root = root
        self.poll_s = poll_s

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                version = download(self.client, self.root)
                if version:
                    log.info("generation %s taken from the Qdrant server", version)
            except Exception:
                log.exception("could not read the published generation from the Qdrant server")
            stop.wait(self.poll_s)


def share(qdrant_url: str | None, qdrant_api_key: str | None, root: Path) -> str | None:
    """After a publish: the current generation copied to the server when the store is one."""
    if not qdrant_url:
        return None
    from .server import client_for

    return upload(client_for(qdrant_url, qdrant_api_key), root)
