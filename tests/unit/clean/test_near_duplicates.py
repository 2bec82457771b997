"""Near-duplicate documents within a source, on real article texts (the shared corpus)."""

from __future__ import annotations

import json
from functools import cache
from itertools import combinations
from urllib.parse import urlsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from infra_assets.clean import near_duplicates as nd
from tests.support.corpora import ARTICLES, need_corpora

pytestmark = pytest.mark.unit

SITE_HEADER = "Home News Sport Business Opinion Culture Newsletters Subscribe Sign in Search"
SITE_FOOTER = (
    "About us Contact Careers Advertise Privacy policy Terms of use Cookie settings Follow us on Facebook "
    "Twitter Instagram Copyright 2024 Example Media Group All rights reserved"
)


@cache
def _corpus() -> tuple[tuple[str, str], ...]:
    """(url, gold article body) of every corpus page with at least 300 words, in id order."""
    need_corpora()
    gold = json.loads((ARTICLES / "ground-truth.json").read_text(encoding="utf-8"))
    pages = ((gold[i]["url"], gold[i]["articleBody"]) for i in sorted(gold))
    return tuple((url, text) for url, text in pages if len(nd.normalised_words(text)) >= 300)


def corpus() -> tuple[tuple[str, str], ...]:
    need_corpora()
    return _corpus()


def plain(url: str) -> str:
    return url.split("?", 1)[0].split("#", 1)[0]


def print_view(url: str, text: str) -> str:
    return f"Print this article | Close window\n{text}\nPrinted from {url}\n© 2024 All rights reserved."


def test_print_view_and_ref_variant_map_to_the_plain_url() -> None:
    (url, text), *others = corpus()[:6]
    url = plain(url)
    docs = [
        (f"{url}?ref=twitter", text + "\nShare this article"),
        (f"{url}/print", print_view(url, text)),
        (url, text),
        *others,
    ]
    assert nd.duplicates(docs) == {f"{url}?ref=twitter": url, f"{url}/print": url}


def test_the_plain_url_is_kept_whatever_the_order_and_a_print_view_loses_even_when_shorter() -> None:
    text = corpus()[0][1]
    base = "https://example.com/story/123"
    docs = [(f"{base}?print=1", print_view(base, text)), (f"{base}?ref=rss", text), (base, text)]
    assert nd.duplicates(docs) == {f"{base}?print=1": base, f"{base}?ref=rss": base}
    assert nd.duplicates(docs[::-1]) == {f"{base}?print=1": base, f"{base}?ref=rss": base}
    # A query string loses to a longer URL without one.
    docs = [("https://example.com/a?p=1", text), ("https://example.com/articles/2024/a-long-slug", text)]
    assert nd.duplicates(docs) == {"https://example.com/a?p=1": "https://example.com/articles/2024/a-long-slug"}


def test_different_articles_of_the_same_site_are_not_merged_even_with_shared_boilerplate() -> None:
    by_site: dict[str, list[tuple[str, str]]] = {}
    for url, text in corpus():
        by_site.setdefault(urlsplit(url).netloc, []).append((url, text))
    pairs = [pair for group in by_site.values() for pair in combinations(group, 2)]
    assert len(pairs) >= 20, "the corpus should hold many sites with two articles"
    docs = [
        (url, f"{SITE_HEADER}\n{text}\n{SITE_FOOTER}") for (a, b) in pairs for url, text in (a, b)
    ]  # every page of a site wrapped in the same header and footer
    assert nd.duplicates(docs) == {}
    for (url_a, text_a), (url_b, text_b) in pairs:
        # Same-site pages with their shared boilerplate stay well below the threshold.
        fa = nd.fingerprint(f"{SITE_HEADER}\n{text_a}\n{SITE_FOOTER}")
        fb = nd.fingerprint(f"{SITE_HEADER}\n{text_b}\n{SITE_FOOTER}")
        assert nd.similarity(fa, fb) < nd.THRESHOLD - 0.2, (url_a, url_b)


def test_no_two_articles_of_the_corpus_are_merged() -> None:
    assert nd.duplicates(list(corpus())) == {}


def _replace_words(text: str, start: int, count: int, tag: str) -> str:
    words = text.split()
    words[start : start + count] = [f"{tag}{i}" for i in range(count)]
    return " ".join(words)


def test_transitive_groups_collapse_to_one_kept_url() -> None:
    text = corpus()[1][1]
    words = text.split()
    n = len(words) * 7 // 100  # 7% replaced at each end: A~B and B~C, but A and C further apart
    a = text
    b = _replace_words(a, 0, n, "head")
    c = _replace_words(b, len(words) - n, n, "tail")
    fa, fb, fc = nd.fingerprint(a), nd.fingerprint(b), nd.fingerprint(c)
    assert nd.similarity(fa, fb) >= nd.THRESHOLD
    assert nd.similarity(fb, fc) >= nd.THRESHOLD
    assert nd.similarity(fa, fc) < nd.THRESHOLD  # joined only through b
    docs = [
        ("https://example.com/articles/a-long-slug", a),
        ("https://example.com/articles/b", b),
        ("https://x.io/c", c),
    ]
    assert nd.duplicates(docs) == {
        "https://example.com/articles/a-long-slug": "https://x.io/c",
        "https://example.com/articles/b": "https://x.io/c",
    }


def test_a_big_group_of_near_identical_pages_is_one_group() -> None:
    # 120 copies, each with one word changed: LSH buckets far beyond the all-pairs limit.
    text = corpus()[2][1]
    words = text.split()
    docs = [
        (f"https://example.com/p?page={i}", _replace_words(text, (i * 7) % len(words), 1, f"w{i}x")) for i in range(120)
    ]
    docs.append(("https://example.com/p", text))
    mapping = nd.duplicates(docs)
    assert set(mapping) == {u for u, _ in docs[:-1]}
    assert set(mapping.values()) == {"https://example.com/p"}


def test_a_truncated_copy_and_a_rewritten_one_are_separate_documents() -> None:
    text = corpus()[3][1]
    words = text.split()
    docs = [
        ("https://example.com/a", text),
        ("https://example.com/a/page/1", " ".join(words[: len(words) * 6 // 10])),  # the first 60% only
        ("https://example.com/b", _replace_words(text, 0, len(words) // 2, "new")),  # half rewritten
    ]
    assert nd.duplicates(docs) == {}


def test_short_texts_match_only_exactly() -> None:
    notice = (
        "Subscribe to continue reading. Already a subscriber? Log in to read the full story. "
        "Get unlimited access to all our journalism for 1 dollar a week, cancel at any time."
    )
    assert len(nd.normalised_words(notice)) + 8 < nd.MIN_WORDS
    docs = [
        ("https://example.com/a", f"Council approves new budget for schools\n{notice}"),
        ("https://example.com/b", f"Storm closes the coastal road for a week\n{notice}"),
        ("https://example.com/c", f"council approves  NEW budget, for schools!\n{notice.upper()}"),  # same text
        ("https://example.com/d", "Page not found"),
        ("https://example.com/e", "page not found."),
        ("https://example.com/f", "Page not found. Try the search."),
        ("https://example.com/g", ""),
        ("https://example.com/h", "  \n "),
        ("https://example.com/i", "…"),
    ]
    assert nd.duplicates(docs) == {
        "https://example.com/c": "https://example.com/a",
        "https://example.com/e": "https://example.com/d",
    }
    assert len(nd.fingerprint(notice)) == 17  # no MinHash for a short text


def test_fingerprints_are_stable_bytes_and_grouping_them_is_duplicates() -> None:
    docs = [(url, text) for url, text in corpus()[:4]]
    docs.append((plain(docs[0][0]) + "?ref=x", docs[0][1] + "\nMore from us"))
    stored = [(url, nd.fingerprint(text)) for url, text in docs]
    assert all(isinstance(fp, bytes) and len(fp) == 1 + 16 + 4 * nd.PERMS for _, fp in stored)
    assert nd.group_fingerprints(stored) == nd.duplicates(docs) == {docs[-1][0]: docs[0][0]}
    # Stored fingerprints stay valid only while the hashing is unchanged: changing it without
    # bumping VERSION would make old and new fingerprints silently incomparable.
    fp = nd.fingerprint(" ".join(f"word{i}" for i in range(60)))
    assert fp[:1] == bytes([nd.VERSION])
    assert fp[17:25].hex() == "296b4e1092020c01"


def test_prefer_picks_the_kept_url() -> None:
    text = corpus()[0][1]
    docs = [("https://a.example/x", text), ("https://a.example/longer", text)]
    assert nd.duplicates(docs, prefer=lambda u: -len(u)) == {"https://a.example/x": "https://a.example/longer"}


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError, match="twice"):
        nd.duplicates([("https://a.example/", "x"), ("https://a.example/", "y")])
    with pytest.raises(ValueError, match="threshold"):
        nd.duplicates([], threshold=0)
    with pytest.raises(ValueError, match="fingerprint"):
        nd.group_fingerprints([("https://a.example/", b"not one")])
    with pytest.raises(ValueError, match="version"):
        nd.group_fingerprints([("https://a.example/", bytes([nd.VERSION + 1]) + nd.fingerprint("x")[1:])])
    assert nd.duplicates([]) == {}


@cache
def _mixed_docs() -> tuple[tuple[str, str], ...]:
    """Groups (exact copies, print views, small edits, a chain), singles and short texts."""
    texts = corpus()
    docs: list[tuple[str, str]] = []
    for k, (_, text) in enumerate(texts[:6]):
        base = f"https://site.example/{k}"
        docs.append((base, text))
        if k % 2 == 0:
            docs.append((f"{base}?ref=home", text))
            docs.append((f"{base}/print", print_view(base, text)))
        if k % 3 == 0:
            docs.append((f"https://mirror.example/{k}", _replace_words(text, 10, 1, "typo")))
    for k, (_, text) in enumerate(texts[6:10]):
        docs.append((f"https://site.example/single/{k}", text))
    docs += [("https://site.example/s1", "Page not found"), ("https://site.example/s2", "PAGE not found!")]
    docs += [("https://site.example/s3", "Short teaser about one thing"), ("https://site.example/e", "")]
    return tuple(docs)


def test_the_mixed_source_groups_as_built() -> None:
    mapping = nd.duplicates(list(_mixed_docs()))
    assert mapping == {
        "https://site.example/0?ref=home": "https://site.example/0",
        "https://site.example/0/print": "https://site.example/0",
        "https://mirror.example/0": "https://site.example/0",
        "https://site.example/2?ref=home": "https://site.example/2",
        "https://site.example/2/print": "https://site.example/2",
        "https://site.example/4?ref=home": "https://site.example/4",
        "https://site.example/4/print": "https://site.example/4",
        "https://mirror.example/3": "https://site.example/3",
        "https://site.example/s2": "https://site.example/s1",
    }


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_the_mapping_does_not_depend_on_the_order(data: st.DataObject) -> None:
    docs = list(_mixed_docs())
    expected = nd.duplicates(docs)
    shuffled = data.draw(st.permutations(docs))
    assert nd.duplicates(shuffled) == expected
