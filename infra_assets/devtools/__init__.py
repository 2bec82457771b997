"""Helpers for tests, benchmarks and docs (and `up`'s wait for the UI): local servers, the shared
corpora, the extraction scorer. Not part of the pipeline."""
