"""Near-duplicate detection (`infra_assets.clean.near_duplicates`): the threshold, and its speed.

Quality: labelled pairs built from the article-extraction-benchmark's 181 real pages (our
extractor's output on each page, the gold article bodies, the full page text with its real
navigation and footer from the stored html-text output) and from SciFact abstracts (read in place
from ../shared/corpora, never copied). Every pair is scored by the estimated Jaccard similarity of
the two fingerprints (MinHash, what the code thresholds), and by the exact Jaccard of the shingle
sets at 3 and 5 words; precision, recall and F1 are swept over thresholds, overall and per kind.

  positives (same article, should be indexed once), each against our extraction of the page:
    identical      the same text under another URL
    print view     a print header, the title, the text without its last line, "Printed from URL", a copyright line
    ?ref= variant  the page with a different rotating "Most read" block (5 headlines of other articles)
    syndicated     a republished-from intro, a byline, the text without its last line, an agency footer
    typo fixed     one word's letters swapped
    sentence edit  one sentence replaced by a sentence of another article (an "Update:" line if few sentences)
  negatives (different documents, must not be merged):
    truncated 60%  the first 60% of the text (kept separate on purpose: see the notes)
    same site      the other article of the same site (most sites have two pages in the corpus)
    same site+boil the same, both wrapped in the same real header and footer of the site
    same site page both full page texts (html-text: navigation, footer, related links and all)
    same topic     the 50 most similar pairs of corpus articles by TF-IDF cosine
    scifact topic  the 300 most similar SciFact abstract pairs by TF-IDF cosine
    stub teaser    a site's paywall teaser (the same notice + the article's first 15 words), two articles
    stub title     the same notice + the article's title only (a cookie wall or "subscribers only" page)
    other articles every other pair of corpus articles (easy negatives, 16k pairs)
  info (not in the totals): gold vs ours, the same page read by two extractors; short typo, the
  first 40 words of an article and the same with one word changed (short texts: exact match only)

Then one synthetic source holds every base article and all its variants under realistic URLs and
`duplicates()` groups it: pair precision/recall of the groups and how often the plain URL is kept.

Speed: `fingerprint()` µs per document on the corpus texts, and `group_fingerprints()` on 10k and
100k synthetic documents (corpus texts of 100+ space-separated words with half their words
replaced, so copies are unrelated, plus 20% near-duplicate variants), with and without a common
site footer on every page. Medians of --runs. With --compare, datasketch's MinHash and simhash's
Simhash (where importable) are scored on the same pairs and timed on the same shingles.

    python bench/near_duplicates.py [--corpus PATH] [--scifact PATH] [--runs 5] [--sizes 10000,100000]
        [--compare] [--json]
"""

from __future__ import annotations

import argparse
import datetime
import gc
import json
import os
import platform
import random
import re
import statistics
import sys
import time
import zlib
from collections.abc import Callable
from functools import cache
from itertools import combinations
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a plain script from a checkout, installed or not
from infra_assets.clean import extract_html  # noqa: E402
from infra_assets.clean import near_duplicates as nd  # noqa: E402
from infra_assets.devtools.corpora import corpora_dir  # noqa: E402
from infra_assets.devtools.extract_eval import load_gold, load_outputs, load_urls, read_page  # noqa: E402

DEFAULT_CORPUS = corpora_dir() / "article-extraction-benchmark"
DEFAULT_SCIFACT = corpora_dir() / "beir-scifact"
THRESHOLDS = (0.3, 0.4, 0.5, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95)
POSITIVE = ("identical", "print view", "?ref= variant", "syndicated", "typo fixed", "sentence edit")
NEGATIVE = (
    "truncated 60%",
    "same site",
    "same site+boil",
    "same site page",
    "same topic",
    "scifact topic",
    "stub teaser",
    "stub title",
    "other articles",
)
INFO = ("gold vs ours", "short typo")
SITES = ("The Daily Courier", "Metro Wire", "Herald Tribune Syndicate", "Associated Newsroom")
_SENTENCE = re.compile(r"(?<=[.!?])\s+")


# --- the labelled pairs --------------------------------------------------------------------------


def load_articles(corpus: Path) -> list[dict[str, Any]]:
    """Every page: id, url, site, gold body, our extraction (title, text), full page text."""
    gold, urls = load_gold(corpus), load_urls(corpus)
    full = load_outputs(corpus).get("html-text", {})
    articles = []
    for page_id in sorted(gold):
        url = urls.get(page_id) or f"https://unknown.example/{page_id}"
        extracted = extract_html(read_page(corpus, page_id), url=url, content_type="text/html")
        articles.append(
            {
                "id": page_id,
                "url": url,
                "site": urlsplit(url).netloc,
                "gold": gold[page_id],
                "title": extracted.title or "",
                "ours": extracted.text,
                "page": full.get(page_id, ""),
            }
        )
    return articles


def words(text: str) -> int:
    return len(nd.normalised_words(text))


def boilerplate(article: dict[str, Any], limit: int = 60) -> tuple[str, str]:
    """The real header and footer of a page: its full-text lines with (almost) nothing of the article."""
    body = set(nd.normalised_words(article["gold"]))
    lines = [line for line in article["page"].splitlines() if line.strip()]
    outside = []
    for index, line in enumerate(lines):
        tokens = nd.normalised_words(line)
        if tokens and sum(t in body for t in tokens) / len(tokens) < 0.5:
            outside.append((index, line))
    middle = len(lines) / 2
    head = [line for index, line in outside if index < middle]
    foot = [line for index, line in outside if index >= middle]

    def cap(chosen: list[str], from_end: bool) -> str:
        text = " ".join(chosen).split()
        return " ".join(text[-limit:] if from_end else text[:limit])

    return cap(head, True), cap(foot, False)


def sentences(text: str) -> list[str]:
    return [s for s in _SENTENCE.split(text) if len(s.split()) >= 6]


def variants(article: dict[str, Any], others: list[dict[str, Any]], rng: random.Random) -> dict[str, str]:
    """The positive variants of one article (and the truncated copy), each to compare with ours.

    Each is built from our own extraction of the page, so a pair measures the variant alone; how
    two extractions of one page differ is the separate "gold vs ours" row."""
    base, url, title, site = article["ours"], article["url"], article["title"], article["site"]
    out = {"identical": base}
    lines = base.split("\n")
    body = "\n".join(lines[:-1]) if len(lines) >= 5 else base  # a print view drops the trailing related links
    out["print view"] = (
        f"Print this article | Close window\n{title}\n{body}\n"
        f"Printed from {url} on 2024-05-17\n© 2024 {site}. All rights reserved."
    )
    picks = rng.sample(others, 10)

    def most_read(chosen: list[dict[str, Any]]) -> str:
        return "Most read\n" + "\n".join(" ".join((o["title"] or o["ours"]).split()[:12]) for o in chosen)

    out["?ref= variant"] = f"{base}\n{most_read(picks[:5])}"
    out["?ref= base"] = f"{base}\n{most_read(picks[5:])}"  # what the plain URL showed at its fetch
    agency = rng.choice(SITES)
    out["syndicated"] = (
        f"This article originally appeared on {site} and is republished here with permission.\n"
        f"By Staff Reporter, {agency}\n{body}\nCopyright 2024 {agency}. All rights reserved. "
        "This material may not be published, broadcast, rewritten or redistributed."
    )
    tokens = base.split(" ")
    long_words = [i for i, t in enumerate(tokens) if len(t) >= 5 and t.isalpha()]
    if long_words:
        i = rng.choice(long_words)
        t = tokens[i]
        j = next((k for k in range(1, len(t) - 2) if t[k] != t[k + 1]), 1)
        tokens[i] = t[:j] + t[j + 1] + t[j] + t[j + 2 :]
    out["typo fixed"] = " ".join(tokens)
    # An updated sentence: one ordinary sentence (6-40 words) replaced by one of another article;
    # where the text has fewer than 4 of them (one long run-on block), an "Update:" line is appended.
    own = [x for x in sentences(base) if len(x.split()) <= 40]
    foreign = [x for o in rng.sample(others, 3) for x in sentences(o["ours"]) if len(x.split()) <= 40]
    new = rng.choice(foreign) if foreign else "Update: this story has been corrected."
    if len(own) >= 4:
        out["sentence edit"] = base.replace(rng.choice(own), new, 1)
    else:
        out["sentence edit"] = f"{base}\nUpdate: {new}"
    cut = base.split(" ")
    out["truncated 60%"] = " ".join(cut[: int(len(cut) * 0.6)])
    head = nd.normalised_words(base)[:40]
    out["short"] = " ".join(head)
    edited = list(head)
    edited[len(edited) // 2] = "changed"
    out["short typo"] = " ".join(edited)
    return out


def tfidf_top_pairs(
    texts: list[str], top: int, exclude: Callable[[int, int], bool] | None = None
) -> list[tuple[int, int]]:
    """The `top` most similar pairs by TF-IDF cosine (words hashed into 4,096 dimensions)."""
    dims = 4096
    docs = [nd.normalised_words(t) for t in texts]
    df: dict[str, int] = {}
    for d in docs:
        for w in set(d):
            df[w] = df.get(w, 0) + 1
    matrix = np.zeros((len(docs), dims), dtype=np.float32)
    for row, d in enumerate(docs):
        counts: dict[str, int] = {}
        for w in d:
            counts[w] = counts.get(w, 0) + 1
        for w, c in counts.items():
            matrix[row, zlib.crc32(w.encode()) % dims] += (1 + np.log(c)) * np.log(len(docs) / df[w])
    matrix /= np.linalg.norm(matrix, axis=1, keepdims=True) + 1e-9
    cosine = matrix @ matrix.T
    np.fill_diagonal(cosine, -1)
    upper = np.triu_indices(len(docs), k=1)
    scores = cosine[upper]
    order = np.argsort(-scores)
    pairs = []
    for k in order:
        i, j = int(upper[0][k]), int(upper[1][k])
        if exclude is None or not exclude(i, j):
            pairs.append((i, j))
            if len(pairs) == top:
                break
    return pairs


def build_pairs(articles: list[dict[str, Any]], scifact: Path | None, seed: int) -> tuple[list[tuple], dict]:
    """[(kind, text a, text b)] and some facts about them."""
    rng = random.Random(seed)
    usable = [a for a in articles if words(a["ours"]) >= nd.MIN_WORDS]
    pairs: list[tuple[str, str, str]] = []
    for article in usable:
        v = variants(article, [o for o in usable if o is not article], rng)
        for kind in POSITIVE:
            a = v["?ref= base"] if kind == "?ref= variant" else article["ours"]
            pairs.append((kind, a, v[kind]))
        pairs.append(("truncated 60%", article["ours"], v["truncated 60%"]))
        pairs.append(("gold vs ours", article["gold"], article["ours"]))
        pairs.append(("short typo", v["short"], v["short typo"]))
    by_site: dict[str, list[dict[str, Any]]] = {}
    for article in usable:
        by_site.setdefault(article["site"], []).append(article)
    for group in by_site.values():
        for a, b in combinations(group, 2):
            pairs.append(("same site", a["ours"], b["ours"]))
            head, foot = boilerplate(a)
            pairs.append(("same site+boil", f"{head}\n{a['ours']}\n{foot}", f"{head}\n{b['ours']}\n{foot}"))
            if a["page"] and b["page"]:
                pairs.append(("same site page", a["page"], b["page"]))
            notice = (
                "Subscribe to continue reading. Already a subscriber? Log in to read the full story. "
                "Get unlimited access for 1 dollar a week."
            )
            teaser_a = notice + " " + " ".join(a["ours"].split()[:15])
            teaser_b = notice + " " + " ".join(b["ours"].split()[:15])
            pairs.append(("stub teaser", teaser_a, teaser_b))
            title_a = a["title"] or " ".join(a["ours"].split()[:8])
            title_b = b["title"] or " ".join(b["ours"].split()[:8])
            pairs.append(("stub title", f"{title_a}\n{notice}", f"{title_b}\n{notice}"))
    same_site = {(a["id"], b["id"]) for g in by_site.values() for a, b in combinations(g, 2)}
    same_site |= {(b, a) for a, b in same_site}
    texts = [a["ours"] for a in usable]
    for i, j in tfidf_top_pairs(texts, 50, lambda i, j: (usable[i]["id"], usable[j]["id"]) in same_site):
        pairs.append(("same topic", texts[i], texts[j]))
    skipped_scifact = 0
    if scifact is not None and (scifact / "corpus.jsonl").is_file():
        with (scifact / "corpus.jsonl").open(encoding="utf-8") as fh:
            abstracts = [json.loads(line) for line in fh]
        abstract_texts = [f"{r.get('title', '')}\n{r.get('text', '')}" for r in abstracts]
        for i, j in tfidf_top_pairs(abstract_texts, 300):
            a, b = abstract_texts[i], abstract_texts[j]
            if exact_jaccard(a, b, 5) >= 0.5:  # the corpus's own duplicates are not negatives
                skipped_scifact += 1
                continue
            pairs.append(("scifact topic", a, b))
    for a, b in combinations(usable, 2):
        if (a["id"], b["id"]) not in same_site:
            pairs.append(("other articles", a["ours"], b["ours"]))
    facts = {
        "articles": len(articles),
        "usable": len(usable),
        "short_or_empty_extractions": len(articles) - len(usable),
        "sites_with_two_pages": sum(len(g) >= 2 for g in by_site.values()),
        "scifact_duplicates_skipped": skipped_scifact,
        "median_words": statistics.median(words(a["ours"]) for a in usable),
    }
    return pairs, facts


_shingle_cache: dict[tuple[int, str], frozenset[tuple[str, ...]]] = {}


def shingle_set(text: str, n: int) -> frozenset[tuple[str, ...]]:
    key = (n, text)
    if key not in _shingle_cache:
        w = nd.normalised_words(text)
        _shingle_cache[key] = frozenset(tuple(w[i : i + n]) for i in range(max(1, len(w) - n + 1)))
    return _shingle_cache[key]


def exact_jaccard(a: str, b: str, n: int) -> float:
    sa, sb = shingle_set(a, n), shingle_set(b, n)
    if not sa and not sb:
        return 1.0
    return len(sa & sb) / len(sa | sb)


# --- scoring ---------------------------------------------------------------------------------------


def scored(pairs: list[tuple], measures: dict[str, Callable[[str, str], float]]) -> list[dict[str, Any]]:
    rows = []
    for kind, a, b in pairs:
        rows.append({"kind": kind, "words": min(words(a), words(b)), **{name: f(a, b) for name, f in measures.items()}})
    return rows


def by_length(rows: list[dict[str, Any]], measure: str, threshold: float) -> list[dict[str, Any]]:
    """Recall per positive kind at one threshold, for short (< 300 words) and long articles."""
    out = []
    for kind in POSITIVE:
        entry: dict[str, Any] = {"kind": kind}
        for name, test in (("<300", lambda n: n < 300), (">=300", lambda n: n >= 300)):
            values = [r[measure] >= threshold for r in rows if r["kind"] == kind and test(r["words"])]
            entry[name] = (sum(values) / len(values) if values else float("nan"), len(values))
        out.append(entry)
    return out


def sweep(rows: list[dict[str, Any]], measure: str, thresholds: tuple[float, ...] = THRESHOLDS) -> list[dict]:
    out = []
    for t in thresholds:
        tp = sum(r[measure] >= t for r in rows if r["kind"] in POSITIVE)
        fn = sum(r[measure] < t for r in rows if r["kind"] in POSITIVE)
        fp = sum(r[measure] >= t for r in rows if r["kind"] in NEGATIVE)
        precision = tp / (tp + fp) if tp + fp else 1.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_kind = {}
        for kind in POSITIVE + NEGATIVE + INFO:
            values = [r[measure] for r in rows if r["kind"] == kind]
            per_kind[kind] = sum(v >= t for v in values) / len(values) if values else float("nan")
        out.append({"threshold": t, "precision": precision, "recall": recall, "f1": f1, "fp": fp, "fn": fn, **per_kind})
    return out


def distribution(rows: list[dict[str, Any]], measure: str) -> dict[str, dict[str, float]]:
    out = {}
    for kind in POSITIVE + NEGATIVE + INFO:
        values = sorted(r[measure] for r in rows if r["kind"] == kind)
        if values:
            out[kind] = {
                "n": len(values),
                "min": values[0],
                "p10": values[len(values) // 10],
                "median": statistics.median(values),
                "max": values[-1],
            }
    return out


cached_fingerprint = cache(nd.fingerprint)


def estimated(a: str, b: str) -> float:
    return nd.similarity(cached_fingerprint(a), cached_fingerprint(b))


def without_short_rule(a: str, b: str) -> float:
    """What MinHash would say if short texts were compared like long ones (the stub justification)."""
    sa = nd._signature(nd._shingle_hashes(nd._word_hashes(a)))
    sb = nd._signature(nd._shingle_hashes(nd._word_hashes(b)))
    return float(np.mean(sa == sb))


# --- one synthetic source, grouped end to end -----------------------------------------------------


def end_to_end(articles: list[dict[str, Any]], seed: int, threshold: float) -> dict[str, Any]:
    rng = random.Random(seed + 1)
    usable = [a for a in articles if words(a["ours"]) >= nd.MIN_WORDS]
    docs: list[tuple[str, str]] = []
    label: dict[str, str] = {}
    plain: dict[str, str] = {}
    for article in usable:
        v = variants(article, [o for o in usable if o is not article], rng)
        url = article["url"].split("#")[0]
        join = "&" if "?" in url else "?"
        path = url.split("?")[0].rstrip("/") + (f"/{article['id'][:8]}" if "?" in url else "")
        forms = {
            "identical": f"{url}{join}output=amp",
            "print view": f"{url}{join}print=1",
            "?ref= variant": f"{url}{join}ref=homepage",
            "syndicated": path.replace("://", "://syndication.", 1) + "-republished",
            "typo fixed": f"{url}{join}v=2",
            "sentence edit": f"{url}#updated",
        }
        docs.append((url, v["?ref= base"]))
        label[url], plain[article["id"]] = article["id"], url
        for kind, variant_url in forms.items():
            docs.append((variant_url, v[kind]))
            label[variant_url] = article["id"]
        truncated = f"{path}/page/1"
        docs.append((truncated, v["truncated 60%"]))
        label[truncated] = f"{article['id']}-truncated"
    start = time.perf_counter()
    mapping = nd.duplicates(docs, threshold=threshold)
    seconds = time.perf_counter() - start
    kept_of = {url: mapping.get(url, url) for url, _ in docs}
    tp = fp = fn = 0
    for (u, _), (w, _) in combinations(docs, 2):
        same_gold, same_found = label[u] == label[w], kept_of[u] == kept_of[w]
        tp += same_gold and same_found
        fp += same_found and not same_gold
        fn += same_gold and not same_found
    plain_kept = sum(kept_of[plain[a["id"]]] == plain[a["id"]] for a in usable)
    lost = [(plain[a["id"]], kept_of[plain[a["id"]]]) for a in usable if kept_of[plain[a["id"]]] != plain[a["id"]]]
    return {
        "documents": len(docs),
        "groups_expected": len(usable),
        "duplicates_found": len(mapping),
        "pair_precision": tp / (tp + fp) if tp + fp else 1.0,
        "pair_recall": tp / (tp + fn) if tp + fn else 0.0,
        "plain_url_kept": plain_kept,
        "plain_url_lost": lost,
        "seconds": seconds,
    }


# --- speed -------------------------------------------------------------------------------------------


def synthetic(texts: list[str], size: int, seed: int, footer: str = "") -> list[tuple[str, str]]:
    """`size` documents: 80% unrelated rewrites of corpus texts (half their words replaced), 20%
    near-duplicates of those (a header and footer line, or one word changed)."""
    rng = random.Random(seed)
    generator = np.random.default_rng(seed)
    vocabulary = np.array(sorted({w for t in texts for w in t.split()}), dtype=object)
    split = [np.array(t.split(), dtype=object) for t in texts]
    unique = int(size * 0.8)
    docs = []
    for d in range(unique):
        tokens = split[d % len(texts)].copy()
        replace = generator.random(len(tokens)) < 0.5
        tokens[replace] = vocabulary[generator.integers(0, len(vocabulary), int(replace.sum()))]
        docs.append((f"https://site.example/a/{d}", " ".join(tokens) + footer))
    for d in range(size - unique):
        url, text = docs[rng.randrange(unique)]
        if d % 2:
            text = f"Print this page\n{text}\nPrinted from {url}"
        else:
            tokens = text.split()
            tokens[rng.randrange(len(tokens))] = "changed"
            text = " ".join(tokens)
        docs.append((f"{url}?copy={d}", text))
    return docs


def median_seconds(fn: Callable[[], Any], runs: int) -> tuple[float, list[float], Any]:
    times, result = [], None
    for _ in range(runs):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), times, result


def speed(articles: list[dict[str, Any]], sizes: list[int], runs: int, seed: int, compare: bool) -> dict[str, Any]:
    texts = [a["ours"] for a in articles if words(a["ours"]) >= nd.MIN_WORDS]
    # The synthetic rewrites replace whitespace-separated tokens: texts in scripts without spaces
    # (a few long CJK runs) would keep whole passages in every rewrite, so they are left out there.
    spaced = [t for t in texts if len(t.split()) >= 100]
    cached_fingerprint.cache_clear()
    _shingle_cache.clear()
    gc.collect()
    out: dict[str, Any] = {}
    per_doc, times, _ = median_seconds(lambda: [nd.fingerprint(t) for t in texts], runs)
    out["fingerprint_us"] = 1e6 * per_doc / len(texts)
    out["fingerprint_us_runs"] = [round(1e6 * t / len(texts), 1) for t in times]
    out["words_per_doc_mean"] = statistics.mean(words(t) for t in texts)
    if compare:
        out["compare"] = compare_libraries(texts, runs)
    footer = (
        "\nAbout us Contact Careers Advertise Privacy policy Terms of use Cookie settings Newsletter "
        "Follow us on Facebook Twitter Instagram YouTube LinkedIn RSS Copyright 2024 Example Media Group "
        "All rights reserved Reproduction in whole or in part without permission is prohibited "
        "Site map Help Accessibility Corrections Subscribe Manage your subscription"
    )
    out["grouping"] = []
    for size in sizes:
        for name, foot in (("plain", ""), ("shared footer", footer)):
            docs = synthetic(spaced, size, seed, foot)
            start = time.perf_counter()
            fps = [(u, nd.fingerprint(t)) for u, t in docs]
            fingerprint_s = time.perf_counter() - start
            group_s, group_times, mapping = median_seconds(lambda fps=fps: nd.group_fingerprints(fps), runs)
            distinct = sorted({fp for _, fp in fps if len(fp) > 17})
            signatures = np.frombuffer(b"".join(fp[17:] for fp in distinct), dtype="<u4").reshape(-1, nd.PERMS)
            candidates = len(nd._candidates(signatures.astype(np.uint32)))
            out["grouping"].append(
                {
                    "documents": size,
                    "pages": name,
                    "fingerprint_s": fingerprint_s,
                    "group_s": group_s,
                    "group_s_runs": [round(t, 3) for t in group_times],
                    "candidates": candidates,
                    "duplicates": len(mapping),
                    "planted": size - int(size * 0.8),
                }
            )
            print(f"  [{size} {name}: grouped in {group_s:.2f} s]", file=sys.stderr)
    return out


def compare_libraries(texts: list[str], runs: int) -> dict[str, Any]:
    """datasketch and simhash on the same normalised 5-word shingles, where importable."""
    result: dict[str, Any] = {}
    shingles = [
        [" ".join(w[i : i + nd.SHINGLE]).encode() for i in range(len(w) - nd.SHINGLE + 1)]
        for w in (nd.normalised_words(t) for t in texts)
    ]
    try:
        import datasketch  # type: ignore[import-not-found]

        def ds_fingerprints() -> list[Any]:
            out = []
            for s in shingles:
                m = datasketch.MinHash(num_perm=nd.PERMS)
                m.update_batch(s)
                out.append(m)
            return out

        seconds, _, _ = median_seconds(ds_fingerprints, runs)
        us = 1e6 * seconds / len(texts)
        result["datasketch"] = {"version": datasketch.__version__, "fingerprint_us_shingled": us}
    except ImportError:
        result["datasketch"] = "not installed"
    try:
        import simhash  # type: ignore[import-not-found]

        def sh_fingerprints() -> list[Any]:
            return [simhash.Simhash([x.decode() for x in s]) for s in shingles]

        seconds, _, _ = median_seconds(sh_fingerprints, runs)
        result["simhash"] = {"fingerprint_us_shingled": 1e6 * seconds / len(texts)}
    except ImportError:
        result["simhash"] = "not installed"
    seconds, _, _ = median_seconds(lambda: [nd.fingerprint(t) for t in texts], runs)
    result["ours"] = {"fingerprint_us_from_text": 1e6 * seconds / len(texts)}
    return result


def library_measures() -> dict[str, Callable[[str, str], float]]:
    """Similarity functions of the other libraries (for the quality comparison), where importable."""
    measures: dict[str, Callable[[str, str], float]] = {}

    def shingled(text: str) -> list[bytes]:
        w = nd.normalised_words(text)
        return [" ".join(w[i : i + nd.SHINGLE]).encode() for i in range(max(1, len(w) - nd.SHINGLE + 1))]

    try:
        import datasketch

        @cache
        def ds_minhash(text: str) -> Any:
            m = datasketch.MinHash(num_perm=nd.PERMS)
            m.update_batch(shingled(text))
            return m

        def ds(a: str, b: str) -> float:
            return float(ds_minhash(a).jaccard(ds_minhash(b)))

        measures["datasketch"] = ds
    except ImportError:
        pass
    try:
        import simhash

        @cache
        def sh_hash(text: str) -> Any:
            return simhash.Simhash([s.decode() for s in shingled(text)])

        def sh(a: str, b: str) -> float:
            return 1 - sh_hash(a).distance(sh_hash(b)) / 64

        measures["simhash"] = sh
    except ImportError:
        pass
    return measures


# --- the run -----------------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> dict[str, Any]:
    articles = load_articles(args.corpus)
    pairs, facts = build_pairs(articles, args.scifact, args.seed)
    measures: dict[str, Callable[[str, str], float]] = {
        "minhash": estimated,
        "exact5": lambda a, b: exact_jaccard(a, b, 5),
        "exact3": lambda a, b: exact_jaccard(a, b, 3),
    }
    if args.compare:
        measures.update(library_measures())
    rows = scored(pairs, measures)
    short_kinds = ("stub teaser", "stub title", "short typo")
    shorts = [r for r in pairs if r[0] in short_kinds]
    result: dict[str, Any] = {
        "corpus": str(args.corpus.resolve()),
        "facts": facts,
        "threshold": nd.THRESHOLD,
        "pairs": {kind: sum(r["kind"] == kind for r in rows) for kind in POSITIVE + NEGATIVE + INFO},
        "sweeps": {name: sweep(rows, name) for name in measures},
        "distribution": {name: distribution(rows, name) for name in ("minhash", "exact5")},
        "short_without_rule": sweep([{"kind": k, "m": without_short_rule(a, b)} for k, a, b in shorts], "m"),
        "by_length": {t: by_length(rows, "minhash", t) for t in (0.6, 0.7, 0.75, 0.8)},
        "end_to_end": end_to_end(articles, args.seed, nd.THRESHOLD),
        "speed": speed(articles, args.sizes, args.runs, args.seed, args.compare),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "cpus": os.cpu_count(),
        "date": datetime.date.today().isoformat(),
    }
    return result


def print_result(result: dict[str, Any]) -> None:
    facts = result["facts"]
    print(
        f"{facts['usable']} of {facts['articles']} articles usable (our extraction >= {nd.MIN_WORDS} words), "
        f"median {facts['median_words']:.0f} words; {facts['sites_with_two_pages']} sites with two pages; "
        f"{facts['scifact_duplicates_skipped']} SciFact duplicate pairs skipped"
    )
    print("pairs: " + ", ".join(f"{k} {n}" for k, n in result["pairs"].items()))
    for name, rows in result["sweeps"].items():
        print(f"\n{name}: precision / recall / F1 over positives vs negatives")
        print(f"{'threshold':>9} {'P':>6} {'R':>6} {'F1':>6} {'FP':>4} {'FN':>4}")
        for r in rows:
            print(
                f"{r['threshold']:>9.2f} {r['precision']:>6.3f} {r['recall']:>6.3f} {r['f1']:>6.3f}"
                f" {r['fp']:>4} {r['fn']:>4}"
            )
    rows = result["sweeps"]["minhash"]
    print("\nminhash: share of pairs at or above the threshold, per kind (positives: recall; negatives: false merges)")
    print(f"{'kind':<16}" + "".join(f"{r['threshold']:>6.2f}" for r in rows))
    for kind in POSITIVE + NEGATIVE + INFO:
        print(f"{kind:<16}" + "".join(f"{r[kind]:>6.2f}" for r in rows))
    for name, dist in result["distribution"].items():
        print(f"\n{name} similarity per kind: n, min, p10, median, max")
        for kind, d in dist.items():
            print(f"{kind:<16} {d['n']:>6} {d['min']:>6.3f} {d['p10']:>6.3f} {d['median']:>6.3f} {d['max']:>6.3f}")
    short = result["short_without_rule"]
    print("\nshort texts if they were compared by MinHash like long ones (share at or above the threshold)")
    print(f"{'kind':<16}" + "".join(f"{r['threshold']:>6.2f}" for r in short))
    for kind in ("stub teaser", "stub title", "short typo"):
        print(f"{kind:<16}" + "".join(f"{r[kind]:>6.2f}" for r in short))
    print("\nminhash recall by article length (pairs in brackets)")
    for threshold, entries in result["by_length"].items():
        print(
            f"  at {threshold}: "
            + "; ".join(
                f"{e['kind']} <300 {e['<300'][0]:.2f} ({e['<300'][1]}), >=300 {e['>=300'][0]:.2f} ({e['>=300'][1]})"
                for e in entries
            )
        )
    e = result["end_to_end"]
    print(
        f"\nend to end at threshold {result['threshold']}: {e['documents']} documents, {e['duplicates_found']} "
        f"duplicates found, pair precision {e['pair_precision']:.3f}, recall {e['pair_recall']:.3f}, plain URL kept "
        f"{e['plain_url_kept']}/{e['groups_expected']}, {e['seconds']:.2f} s"
    )
    for plain_url, kept in e["plain_url_lost"]:
        print(f"  kept {kept} over {plain_url}")
    s = result["speed"]
    print(
        f"\nfingerprint: {s['fingerprint_us']:.0f} µs/doc median ({s['words_per_doc_mean']:.0f} words/doc mean; "
        f"runs {s['fingerprint_us_runs']})"
    )
    if "compare" in s:
        print("compare: " + json.dumps(s["compare"]))
    print(
        f"{'documents':>9} {'pages':<14} {'fingerprint s':>13} {'group s':>8} {'candidates':>10}"
        f" {'dups':>6} {'planted':>7}"
    )
    for g in s["grouping"]:
        print(
            f"{g['documents']:>9} {g['pages']:<14} {g['fingerprint_s']:>13.1f} {g['group_s']:>8.2f} "
            f"{g['candidates']:>10} {g['duplicates']:>6} {g['planted']:>7}   runs {g['group_s_runs']}"
        )
    print(f"\npython {result['python']}, numpy {result['numpy']}, {result['cpus']} CPUs, {result['date']}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS, help="article-extraction-benchmark folder")
    parser.add_argument("--scifact", type=Path, default=DEFAULT_SCIFACT, help="beir-scifact folder (hard negatives)")
    parser.add_argument("--runs", type=int, default=5, help="timed runs per figure (medians)")
    parser.add_argument("--sizes", default="10000,100000", help="synthetic source sizes for grouping speed")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--compare", action="store_true", help="also datasketch and simhash, where importable")
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON")
    args = parser.parse_args(argv)
    args.sizes = [int(s) for s in args.sizes.split(",") if s]
    if not (args.corpus / "ground-truth.json").is_file():
        parser.error(f"no ground-truth.json under {args.corpus}")
    result = run(args)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print_result(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
