"""The refusals of the reader program (each one's HTTP status is in `contract.error_answer`).

A module of its own, without pydantic, because the shard process imports it."""

from __future__ import annotations


class BadQuery(ValueError):
    """A query the API answers with a 400."""


class NoIndex(RuntimeError):
    """Nothing has been published yet (503)."""


class Unavailable(RuntimeError):
    """The index is there but cannot answer now (its shard process is down): 503, retry."""
