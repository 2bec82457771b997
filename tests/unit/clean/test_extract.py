"""Cleaning stage: quality on real pages, charsets, hostile input, feed fragments."""

from __future__ import annotations

import codecs
import random
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from infra_assets.clean.extract import Extracted, decode_html, extract_html, html_fragment_to_text
from infra_assets.devtools.extract_eval import load_gold, load_outputs, load_urls, read_page, score
from tests.support.corpora import ARTICLES as CORPUS

FRENCH = (
    "Le café de la gare a fermé ses portes. « C’est la fin d’une époque », déclare Hélène, "
    "qui y déjeunait chaque été depuis 1998. Le menu coûtait 12 € — un prix très raisonnable."
)
JAPANESE = "これは日本語で書かれた段落です。文字コードはシフトJISで、見出しも日本語です。"
FILLER = " ".join(["The committee reviewed the proposal in detail and asked for more figures."] * 4)


def page(body: str, *, head: str = "", lang: str = "en") -> str:
    """A small but realistic article page around the given paragraphs."""
    return (
        f"<!DOCTYPE html><html lang='{lang}'><head>{head}</head><body>"
        f"<nav><a href='/'>Home</a> <a href='/news'>News</a></nav>"
        f"<article>{body}</article><footer>(c) Example</footer></body></html>"
    )


# --- quality on the article-extraction-benchmark ---------------------------------------------


@pytest.fixture(scope="module")
def corpus() -> Path:
    if not (CORPUS / "ground-truth.json").is_file():
        pytest.skip(
            f"article-extraction-benchmark corpus not found at {CORPUS.resolve()} "
            "(set INFRA_ASSETS_CORPORA to the folder holding it)"
        )
    return CORPUS


@pytest.fixture(scope="module")
def ours(corpus):
    """Our extraction of every corpus page: {id: Extracted} and per-page seconds."""
    urls, results, seconds = load_urls(corpus), {}, []
    for page_id in sorted(urls):
        body = read_page(corpus, page_id)
        start = time.perf_counter()
        results[page_id] = extract_html(body, url=urls[page_id], content_type="text/html")
        seconds.append(time.perf_counter() - start)
    return results, seconds


def test_scorer_reproduces_the_published_trafilatura_figure(corpus):
    gold = load_gold(corpus)
    stored = load_outputs(corpus)["trafilatura"]
    assert score((gold[k], stored[k]) for k in gold).f1 == pytest.approx(0.958, abs=0.002)


@pytest.mark.system  # extracts the whole corpus (seconds); its speed is in bench/extraction.py
def test_beats_trafilatura_stored_output_on_the_same_scorer(corpus, ours):
    gold = load_gold(corpus)
    stored = load_outputs(corpus)["trafilatura"]
    texts = {k: e.text for k, e in ours[0].items()}
    mine = score((gold[k], texts[k]) for k in gold)
    theirs = score((gold[k], stored[k]) for k in gold)
    assert mine.pages == theirs.pages == len(gold) == 181
    assert mine.f1 >= theirs.f1, (mine, theirs)
    assert mine.page_f1 >= theirs.page_f1, (mine, theirs)


@pytest.mark.system  # extracts the whole corpus (seconds)
def test_every_corpus_page_has_text_and_title(ours):
    results = ours[0]
    assert [k for k, e in results.items() if not e.text] == []
    assert [k for k, e in results.items() if not e.title] == []
    assert all("\n\n" not in e.text for e in results.values())


# --- the scorer's edge cases --------------------------------------------------------------------


def test_scorer_rules_for_empty_and_short_texts():
    perfect = score([("one two three four five", "one two three four five")])
    assert (perfect.precision, perfect.recall, perfect.f1) == (1.0, 1.0, 1.0)
    # An empty prediction has no precision to average, only a recall of 0.
    empty = score([("one two three four five", ""), ("a b c d e", "a b c d e")])
    assert (empty.precision, empty.recall, empty.page_f1) == (1.0, 0.5, 0.5)
    # Under four tokens the whole text is one shingle.
    assert score([("two words", "two words")]).f1 == 1.0
    assert score([("two words", "two other")]).f1 == 0.0


# --- charsets -----------------------------------------------------------------------------------


def test_windows_1252_page_without_any_declaration():
    body = page(f"<p>{FRENCH}</p>", lang="fr").encode("cp1252")
    assert FRENCH in decode_html(body, None)
    assert FRENCH in decode_html(body, "text/html")


def test_header_charset_wrong_body_is_windows_1252():
    body = page(f"<p>{FRENCH}</p><p>{FILLER}</p>", lang="fr").encode("cp1252")
    assert FRENCH in decode_html(body, "text/html; charset=utf-8")
    assert FRENCH in extract_html(body, content_type="text/html; charset=UTF-8").text


def test_header_charset_wrong_body_is_utf8():
    body = page(f"<p>{FRENCH}</p>").encode("utf-8")
    assert FRENCH in decode_html(body, "text/html; charset=ISO-8859-1")


def test_meta_charset_wrong_body_is_utf8():
    body = page(f"<p>{FRENCH}</p>", head="<meta charset='windows-1252'>").encode("utf-8")
    assert FRENCH in decode_html(body, None)


def test_iso_8859_1_page_with_header():
    text = "São Paulo, Zürich, Ñandú, Ærøskøbing: façades très chères à l’œil"
    body = page(f"<p>{text.replace('’', chr(39)).replace('œ', 'oe')}</p>").encode("iso-8859-1")
    decoded = decode_html(body, 'text/html; charset="ISO-8859-1"')
    assert "São Paulo, Zürich, Ñandú, Ærøskøbing: façades très chères à l'oeil" in decoded


def test_shift_jis_page_with_meta_charset_only():
    html = page(
        f"<h1>日本語のページ</h1><p>{JAPANESE}</p><p>{JAPANESE * 3}</p>",
        head="<meta http-equiv='Content-Type' content='text/html; charset=Shift_JIS'><title>日本語のページ</title>",
        lang="ja",
    )
    result = extract_html(html.encode("shift_jis"))
    assert JAPANESE in result.text
    assert result.title == "日本語のページ"
    assert result.language == "ja"


def test_shift_jis_with_header_and_no_meta():
    body = page(f"<p>{JAPANESE}</p>", lang="ja").encode("shift_jis")
    assert JAPANESE in decode_html(body, "text/html; charset=shift_jis")
    assert JAPANESE in decode_html(body, None)  # detection


def test_windows_1251_declared_in_meta_and_utf16_bom():
    russian = "Привет, мир! Это страница в кодировке windows-1251."
    body = page(f"<p>{russian}</p>", head="<meta charset=windows-1251>").encode("cp1251")
    assert russian in decode_html(body, None)
    utf16 = codecs.BOM_UTF16_LE + page(russian).encode("utf-16-le")
    assert russian in decode_html(utf16, None)


def test_unknown_charset_label_is_ignored():
    body = page(f"<p>{FRENCH}</p>").encode("utf-8")
    assert FRENCH in decode_html(body, "text/html; charset=no-such-charset")


# --- hostile and odd input ----------------------------------------------------------------------


@pytest.mark.parametrize("body", [b"", "", b"   \n\t ", "\x00\x00"])
def test_empty_bodies(body):
    assert extract_html(body) == Extracted(None, "", None)


@pytest.mark.parametrize("seed", range(8))
def test_random_bytes_give_empty_text(seed):
    body = random.Random(seed).randbytes(20_000)
    assert extract_html(body, content_type="text/html").text == ""


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=3000) | st.text(max_size=3000).map(lambda s: f"<html><body>{s}"))
def test_never_raises(body):
    assert isinstance(extract_html(body).text, str)
    if isinstance(body, str):
        assert isinstance(html_fragment_to_text(body), str)


def test_non_bytes_body_is_a_type_error():
    with pytest.raises(TypeError):
        extract_html(None)  # type: ignore[arg-type]


def test_plain_text_keeps_its_paragraphs():
    body = b"First paragraph,\nhard-wrapped.\n\nSecond paragraph.\n"
    assert extract_html(body, content_type="text/plain").text == ("First paragraph, hard-wrapped.\nSecond paragraph.")
    assert extract_html("No markup here at all.").text == "No markup here at all."


def test_media_type_decides_between_page_plain_text_and_nothing():
    assert extract_html(b'{"a": "b"}', content_type="application/json").text == ""
    assert extract_html(b"<rss><channel/></rss>", content_type="application/rss+xml").text == ""
    # A real page behind a generic type is still read as a page.
    body = page(f"<p>{FILLER}</p>").encode()
    assert extract_html(body, content_type="application/octet-stream").text == FILLER


def test_malformed_html_keeps_the_article():
    html = (
        "<html><head><title>Broken</title><body><div><p>"
        + FILLER
        + "<div><span><p>Badly nested closing paragraph of the story, still readable."
        + "</span></div></table></html></html>"
    )
    text = extract_html(html).text
    assert FILLER in text and "still readable" in text


def test_xhtml_string_with_encoding_declaration():
    html = (
        '<?xml version="1.0" encoding="iso-8859-1"?>'
        '<html xmlns="http://www.w3.org/1999/xhtml" xml:lang="de"><head><title>Seite</title>'
        f"</head><body><div><p>{FILLER}</p></div></body></html>"
    )
    result = extract_html(html)
    assert FILLER in result.text and result.language == "de"


# --- title, language, paragraphs ----------------------------------------------------------------


def test_title_loses_site_suffix_and_is_not_repeated_in_text():
    html = page(
        f"<h1>Council approves the new bridge</h1><p>{FILLER}</p><p>{FRENCH}</p>",
        head="<title>Council approves the new bridge | Example News</title>"
        "<meta property='og:site_name' content='Example News'>",
        lang="en-GB",
    )
    result = extract_html(html, url="https://www.example-news.com/bridge")
    assert result.title == "Council approves the new bridge"
    assert result.language == "en"
    assert result.text.split("\n") == [FILLER, FRENCH]


def test_title_suffix_from_host_name_without_h1():
    html = page(f"<p>{FILLER}</p>", head="<title>Budget talks stall - Deccan Herald</title>")
    result = extract_html(html, url="https://www.deccanherald.com/x")
    assert result.title == "Budget talks stall"


# --- feed fragments -----------------------------------------------------------------------------


def test_fragment_keeps_every_paragraph_in_order():
    fragment = (
        "<p>First paragraph with <a href='#'>a link</a> and <b>bold</b> text.</p>"
        "<p>Yes.</p><!-- a comment -->Loose text after a comment."
        "<ul><li>Item one</li><li>Item two</li></ul>"
        "<blockquote>A quotation.</blockquote>Line one<br>Line two"
        "<script>var hidden = 1;</script><style>p { color: red }</style>"
        "<div><h2>Subheading</h2><p>Nested paragraph.</p></div><pre>code line 1\ncode line 2</pre>"
    )
    assert html_fragment_to_text(fragment).split("\n") == [
        "First paragraph with a link and bold text.",
        "Yes.",
        "Loose text after a comment.",
        "Item one",
        "Item two",
        "A quotation.",
        "Line one",
        "Line two",
        "Subheading",
        "Nested paragraph.",
        "code line 1",
        "code line 2",
    ]


def test_fragment_edge_cases():
    assert html_fragment_to_text("") == ""
    assert html_fragment_to_text("   ") == ""
    assert html_fragment_to_text("Just text &amp; an entity") == "Just text & an entity"
    assert html_fragment_to_text("<p>unclosed <div>nested") == "unclosed\nnested"
    assert html_fragment_to_text("<html><body><p>Wrapped</p></body></html>") == "Wrapped"
    assert html_fragment_to_text("<html>") == ""
