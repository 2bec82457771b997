"""Properties over generated input: the sources file and its durations.

Kept fast (50-100 examples each, no deadline); run with `--hypothesis-seed` to replay.
"""

from __future__ import annotations

import math
import threading

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from infra_assets.sources.spec import (
    KINDS,
    MAX_DURATION_S,
    NAME_RE,
    SourcesConfigError,
    format_duration,
    load_sources,
    parse_duration,
    parse_sources,
)

FAST = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# --------------------------------------------------------------------------- the sources file

names = st.from_regex(r"[a-z][a-z0-9_]{0,15}", fullmatch=True).filter(
    lambda n: n not in {"serving", "raw", "clean", "embeddings", "default"}
)
durations = st.builds(lambda n, unit: f"{n}{unit}", st.integers(1, 300), st.sampled_from("smhd")).filter(
    lambda d: parse_duration(d) <= MAX_DURATION_S
)
hosts = st.sampled_from(["example.org", "docs.example.com", "127.0.0.1:8765", "[::1]:8080", "localhost"])
paths = st.lists(st.from_regex(r"[a-z0-9\-]{1,8}", fullmatch=True), max_size=3).map("/".join)


@st.composite
def valid_source(draw) -> dict:
    kind = draw(st.sampled_from(KINDS))
    src: dict = {
        "name": draw(names),
        "kind": kind,
        "url": f"{draw(st.sampled_from(['http', 'https']))}://{draw(hosts)}/{draw(paths)}",
    }
    for key, strategy in [
        ("freshness", durations),
        ("check_every", durations),
        ("timeout", durations),
        ("max_pages", st.integers(1, 10**6)),
        ("concurrency", st.integers(1, 64)),
        ("max_bytes", st.integers(1, 10**9)),
        ("max_rps", st.floats(0.01, 1000, allow_nan=False)),
        ("include", st.lists(st.sampled_from(["*/a/*", "*.html", "*"]), max_size=2)),
        ("allow_hosts", st.lists(hosts, max_size=2)),
    ]:
        if draw(st.booleans()):
            src[key] = draw(strategy)
    if kind == "json":
        src.update(
            id="id",
            text=draw(st.lists(st.sampled_from(["body", "summary", "a.b"]), min_size=1, max_size=2, unique=True)),
        )
    if kind == "feed" and draw(st.booleans()):
        src["follow_links"] = draw(st.booleans())
    return src


@FAST
@given(
    st.lists(valid_source(), max_size=4, unique_by=lambda s: s["name"]),
    st.one_of(st.none(), st.from_regex(r"https://[a-z]{1,10}\.example/[a-z]{0,10}", fullmatch=True)),
)
def test_valid_sources_files_round_trip(tmp_path_factory, sources, contact):
    doc = {"sources": sources}
    if contact:
        doc["defaults"] = {"contact": contact}
    path = tmp_path_factory.mktemp("cfg") / "sources.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    cfg = load_sources(path)
    assert cfg.names == [s["name"] for s in sources]
    for raw, src in zip(sources, cfg.sources):
        assert (src.kind, src.url) == (raw["kind"], raw["url"])
        for key in ("freshness", "check_every", "timeout"):
            if key in raw:
                assert getattr(src, key) == parse_duration(raw[key])
        for key in ("max_pages", "concurrency", "max_bytes", "max_rps"):
            if key in raw:
                assert getattr(src, key) == raw[key]
        assert src.allow_hosts == [h.lower() for h in raw.get("allow_hosts", [])]
        assert src.include == raw.get("include", [])
        if src.kind == "json":
            assert src.text == raw["text"]
        else:
            assert not hasattr(src, "text")
    # What loads, re-dumped in the file's own terms, loads to the same sources.
    again = [
        {
            "name": s.name,
            "kind": s.kind,
            "url": s.url,
            "freshness": format_duration(s.freshness),
            "check_every": format_duration(s.check_every),
            "timeout": format_duration(s.timeout),
            "max_pages": s.max_pages,
            "concurrency": s.concurrency,
            "max_bytes": s.max_bytes,
            **({"max_rps": s.max_rps} if s.max_rps else {}),
            **({"id": s.id, "text": list(s.text)} if s.kind == "json" else {}),
            **({"follow_links": s.follow_links} if s.kind == "feed" else {}),
            "include": list(s.include),
            "allow_hosts": list(s.allow_hosts),
        }
        for s in cfg.sources
    ]
    assert (
        parse_sources({"sources": again, **({"defaults": doc["defaults"]} if contact else {})}).sources == cfg.sources
    )


@FAST
@given(st.integers(1, MAX_DURATION_S))
def test_durations_round_trip(seconds):
    assert parse_duration(format_duration(seconds)) == seconds


yaml_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(),
    st.text(max_size=30),
    st.sampled_from(["1h", "0s", "99999999d", "https://x.org/", "page", "sitemap", "a", "a\n", ".nan", "-1"]),
)
yaml_values = st.recursive(
    yaml_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.one_of(st.text(max_size=12), st.integers()), inner, max_size=4)
    ),
    max_leaves=12,
)


# Values that have broken config parsers: names with a trailing newline, NaN and infinite rates,
# durations past what timers take, header injection, broken URLs, wrong types.
nasty = st.sampled_from(
    [
        float("nan"),
        float("inf"),
        -0.0,
        "a\n",
        "../a",
        "99999999d",
        10**12,
        2**64,
        "x\r\nX-Injected: 1",
        "caf\u00e9",
        "http://[::1",
        "http://x.org:99999/",
        "https://",
        "",
        [],
        {},
        None,
        True,
        -1,
        0,
        "1.5h",
    ]
)


@st.composite
def mutated_file(draw) -> object:
    """A valid file with one value, anywhere in it, replaced by arbitrary or nasty YAML data."""
    doc = {
        "defaults": {"freshness": "1h", "contact": "https://x.example/"},
        "embedding": {"model": "default"},
        "sources": draw(st.lists(valid_source(), min_size=1, max_size=2)),
    }
    spots = (
        [(doc, k) for k in doc]
        + [(doc["defaults"], k) for k in doc["defaults"]]
        + [(src, k) for src in doc["sources"] for k in src]
    )
    where, key = draw(st.sampled_from(spots))
    value = draw(st.one_of(nasty, yaml_values))
    if draw(st.booleans()):
        where[key] = value
    else:  # a new key, known or not
        extra = ["max_rps", "user_agent", "contact", "timeout", "name", "urls", "bogus", "records", "link"]
        where[draw(st.sampled_from(extra))] = value
    return doc


@settings(max_examples=100, deadline=None)
@given(st.one_of(yaml_values, mutated_file()))
def test_any_data_loads_or_fails_with_one_clear_error(data):
    try:
        cfg = parse_sources(data, "sources.yaml")
    except SourcesConfigError as exc:
        message = str(exc)
        assert message.startswith("sources.yaml: ") and "\n" not in message
        return
    # What is accepted is usable: names are safe folder names, limits are finite and bounded,
    # the User-Agent is one printable ASCII line.
    assert cfg.user_agent.isascii() and cfg.user_agent.isprintable()
    for src in cfg.sources:
        assert NAME_RE.fullmatch(src.name)
        assert 0 < src.timeout <= min(MAX_DURATION_S, threading.TIMEOUT_MAX)
        assert src.max_rps is None or (math.isfinite(src.max_rps) and src.max_rps > 0)


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=200))
def test_any_text_file_loads_or_fails_with_one_clear_error(tmp_path_factory, text):
    path = tmp_path_factory.mktemp("cfg") / "sources.yaml"
    path.write_text(text, encoding="utf-8")
    try:
        load_sources(path)
    except SourcesConfigError as exc:
        assert str(exc).startswith(str(path)) and "\n" not in str(exc)
