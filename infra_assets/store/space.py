"""A vector space's identity, and the collection that holds it.

A change of model (or of the point schema, `payload.SCHEMA_VERSION`) needs a new collection:
vector spaces never mix. The store names collections by it; the index builds it from the model.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .payload import SCHEMA_VERSION


@dataclass(frozen=True)
class ModelInfo:
    """What identifies a vector space: a change of any of these needs a new collection."""

    name: str  # as configured ("default" or a fastembed name)
    resolved: str  # the fastembed model id actually loaded
    dim: int
    max_tokens: int

    @property
    def slug(self) -> str:
        base = re.sub(r"[^a-z0-9]+", "_", self.resolved.lower()).strip("_")
        return f"{base}_{self.dim}"

    @property
    def collection(self) -> str:
        return collection_name(self.slug)


def collection_name(model_slug: str) -> str:
    """One collection per vector space: a new model never mixes with the old one's vectors."""
    return f"chunks_v{SCHEMA_VERSION}_{model_slug}"
