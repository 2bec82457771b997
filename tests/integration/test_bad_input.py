"""Bad documents and a bad network: each bad thing is recorded with its reason, the rest goes on.

Everything runs against real servers on 127.0.0.1: the demo `SiteServer`, and for connection
resets a bare TCP server that answers with a RST (nothing at the HTTP level can do that).
"""

from __future__ import annotations

import csv
import gzip
import json
import random
import socket
import struct
import threading
import time

import polars as pl
import pytest

from infra_assets.clean import clean_table
from infra_assets.demo import SiteServer
from infra_assets.devtools.corpora import corpora_dir
from infra_assets.fetch import HttpClient
from infra_assets.fetch.blobs import BlobStore
from infra_assets.sources.kinds import SourceUnavailable, collect
from infra_assets.sources.spec import Source, parse_source
from tests.support.project import TEST_UA, get, metadata

UA = TEST_UA
FEEDS_SITEMAPS = corpora_dir() / "feeds-sitemaps"
ARTICLE = (
    "<html><head><title>Tide pools</title></head><body><article><h1>Tide pools</h1>"
    + "<p>Tide pools hold anemones, limpets and small fish between the tides. " * 30
    + "</p></article></body></html>"
)


# --------------------------------------------------------------------------- bad documents


def test_bad_pages_are_recorded_with_reasons_and_the_rest_is_indexed(project, site):
    latin = (
        "<html><body><article><p>"
        + "Caf\xe9 cr\xe8me br\xfbl\xe9e, na\xefve fa\xe7ade. " * 20
        + "</p></article></body></html>"
    ).encode("cp1252")
    broken = (
        "<html><body><div><p>"
        + "Unclosed tags still carry a readable story about kelp. " * 20
        + "<b><i><p>and more <table><tr><td>cells"
    )
    site.set_page("/good.html", ARTICLE)
    site.set_page("/broken.html", broken)
    site.set_page("/latin.html", latin, "text/html; charset=utf-8")  # the header lies
    site.set_page("/random.html", random.Random(7).randbytes(4000), "text/html")
    site.set_page("/empty.html", b"", "text/html")
    site.set_page("/big.html", "<p>" + "x" * 60_000 + "</p>")
    site.set_page("/doc.pdf", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj <<>> endobj\n" * 50, "application/pdf")
    site.set_page("/img.png", b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8, "image/png")
    paths = [
        "/good.html",
        "/broken.html",
        "/latin.html",
        "/random.html",
        "/empty.html",
        "/big.html",
        "/doc.pdf",
        "/img.png",
    ]
    project.write_sources(
        [{"name": "pages", "kind": "page", "urls": [site.url + p for p in paths], "max_bytes": 50_000}]
    )
    result = project.materialize(serving=False, stages=("raw", "clean"))
    assert result.success

    clean = project.table("clean", "pages")
    assert sorted(u.removeprefix(site.url) for u in clean["url"]) == ["/broken.html", "/good.html", "/latin.html"]
    assert "Café crème brûlée" in clean.filter(pl.col("url").str.ends_with("/latin.html"))["text"][0]
    raw = project.table("raw", "pages").filter(pl.col("role") == "document")
    big = raw.filter(pl.col("url").str.ends_with("/big.html")).row(0, named=True)
    assert big["outcome"] == "error" and "larger than 50000 bytes" in big["error"]

    raw_meta, clean_meta = metadata(result, ["raw", "pages"]), metadata(result, ["clean", "pages"])
    assert raw_meta["fetch_errors"] == 1 and "larger than 50000 bytes" in raw_meta["problems"]
    assert clean_meta["bad_documents"] == 5  # random bytes, empty, over the cap, PDF, PNG
    problems = clean_meta["problems"]
    for path, reason in [
        ("/random.html", "no main text found (text/html)"),
        ("/empty.html", "no main text found"),
        ("/doc.pdf", "truncated or corrupt PDF"),
        ("/img.png", "no main text found (image/png)"),
        ("/big.html", "larger than 50000 bytes"),
    ]:
        assert f"{site.url}{path}: " in problems and reason in problems, (path, problems)


def _collect(src: Source, tmp_path, previous=None):
    blobs = BlobStore(tmp_path / "blobs")
    with HttpClient(UA, timeout_s=5, retries=0) as c:
        return collect(src, c, previous, blobs), blobs


def test_malformed_but_readable_feed_records_its_warning(site, tmp_path):
    feed = (
        "<?xml version='1.0'?><rss version='2.0'><channel><title>t</title>"
        "<item><title>One</title><link>/one</link><description>Kelp &amp; otters &nbsp; "
        "grow</description></item><item><title>Two</title><link>/two</link>"
        "<description>Unclosed <b>bold</description></item></channel></rss>"
    )
    site.set_page("/feed.xml", feed)
    src = parse_source({"name": "f", "kind": "feed", "url": site.url + "/feed.xml", "include": ["*/one"]})
    collected, _ = _collect(src, tmp_path)
    docs = collected.table.filter(pl.col("role") == "document")
    assert docs["url"].to_list() == [site.url + "/one"]
    assert collected.dropped == {"filtered": 1}
    assert len(collected.errors) == 1 and "not well-formed, read leniently" in collected.errors[0]


def test_json_records_not_matching_the_mapping_are_counted_and_named(site, tmp_path):
    items = [
        {"id": 1, "body": "Otters use rocks to open shells."},
        {"body": "no id here"},
        {"id": 3},
        "not an object",
        {"id": 1, "body": "a duplicate id"},
        {"id": 5, "body": {"nested": "objects have no text"}},
        {"id": 6, "body": ["lists", "are", "joined"]},
    ]
    site.set_page("/api.json", json.dumps({"data": {"items": items}}))
    src = parse_source(
        {
            "name": "j",
            "kind": "json",
            "url": site.url + "/api.json",
            "records": "data.items",
            "id": "id",
            "text": ["body"],
        }
    )
    collected, _ = _collect(src, tmp_path)
    docs = collected.table.filter(pl.col("role") == "document")
    assert docs["url"].to_list() == [f"{site.url}/api.json#1", f"{site.url}/api.json#6"]
    assert collected.dropped == {"invalid_record": 5}
    reasons = " | ".join(collected.errors)
    for word in (
        "missing id field 'id'",
        "record 2 (id 3): no text",
        "expected an object",
        "duplicate id",
        "record 5 (id 5): no text",
    ):
        assert word in reasons, reasons


def test_json_document_of_the_wrong_shape_fails_the_source_with_its_reason(site, tmp_path):
    src = parse_source(
        {"name": "j", "kind": "json", "url": site.url + "/api.json", "records": "items", "id": "id", "text": ["body"]}
    )
    for body, reason in [
        (b"\xff\xfe not json", "not JSON"),
        (b'{"results": []}', "records path 'items' not found"),
        (b'{"items": {"a": 1}}', "is a dict, expected a list"),
    ]:
        site.set_page("/api.json", body, "application/json")
        with pytest.raises(SourceUnavailable, match=reason):
            _collect(src, tmp_path)


def _corpus_rows() -> list[dict]:
    manifest = FEEDS_SITEMAPS / "MANIFEST.tsv"
    if not manifest.exists():
        pytest.skip(f"shared feeds/sitemaps corpus not found at {FEEDS_SITEMAPS} (set INFRA_ASSETS_CORPORA)")
    with open(manifest, newline="", encoding="utf-8") as handle:
        return [r for r in csv.DictReader(handle, delimiter="\t") if r["kind"] != "robots.txt"]


def test_every_corpus_feed_and_sitemap_goes_through_collect_and_clean(site, tmp_path):
    """Each shared file, served as its kind of source: a raw and clean table, or a refusal saying
    why (`SourceUnavailable`); never another exception. Listed URLs point at real public hosts,
    which are off this source's host, so nothing leaves 127.0.0.1."""
    rows = _corpus_rows()
    site.set_page("/robots.txt", "User-agent: *\nAllow: /\n", "text/plain")
    outcomes = {"read": 0, "refused": 0}
    documents = 0
    for i, row in enumerate(rows):
        body = (FEEDS_SITEMAPS / row["path"]).read_bytes()
        kind = "sitemap" if row["path"].startswith("sitemaps/") else "feed"
        path = f"/c{i}" + (".xml.gz" if row["path"].endswith(".gz") else ".xml")
        site.set_page(path, body, "application/octet-stream")
        src = parse_source({"name": "c", "kind": kind, "url": site.url + path, "max_pages": 50})
        try:
            collected, blobs = _collect(src, tmp_path / str(i))
        except SourceUnavailable as exc:
            assert str(exc).startswith("c: ") and "<unknown>" not in str(exc), row["path"]
            outcomes["refused"] += 1
            print(f"refused {row['path']}: {exc}")
            continue
        outcomes["read"] += 1
        cleaned = clean_table("c", collected.table, None, blobs)
        documents += cleaned.table.height
        assert (
            cleaned.table.height + len(cleaned.problems)
            == collected.table.filter((pl.col("role") == "document") & (pl.col("outcome") != "gone")).height
        ), row["path"]
        assert all(reason for _, reason in cleaned.problems), row["path"]
    print(f"\ncorpus through collect+clean: {outcomes}, {documents} documents")
    assert sum(outcomes.values()) == len(rows) and outcomes["refused"] <= 6 and documents > 100


# --------------------------------------------------------------------------- bad network


class ResettingServer:
    """A bare TCP server: the first `resets` connections get an RST after the request arrives,
    later ones a small HTTP 200."""

    def __init__(self, resets: int):
        self.resets, self.connections = resets, 0
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(4096)
                    if not chunk:
                        break
                    data += chunk
                self.connections += 1
                if self.connections <= self.resets:
                    # SO_LINGER with a zero timeout: close() sends RST instead of FIN.
                    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    continue
                body = b"<p>back again</p>"
                conn.sendall(
                    b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nConnection: close\r\n"
                    b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
                )

    def close(self) -> None:
        self.sock.close()


@pytest.mark.parametrize("resets, outcome", [(1, "fetched"), (100, "error")])
def test_connection_resets_are_retried_then_reported(client, resets, outcome):
    server = ResettingServer(resets)
    try:
        host = f"127.0.0.1:{server.port}"
        # robots=False: this server speaks only enough HTTP for one page.
        result = client.fetch(f"http://{host}/p", allowed_hosts=frozenset({host}), robots=False)
    finally:
        server.close()
    assert result.outcome == outcome
    if outcome == "fetched":
        assert result.body == b"<p>back again</p>" and server.connections == 2
    else:
        assert result.error in (
            "connection failed: the server closed the connection",
            "connection failed: Connection reset by peer",
        ), result.error
        assert server.connections == 3  # the first try and two retries


def test_dns_failure_is_an_error_naming_dns(client):
    # .invalid never resolves (RFC 6761): a real lookup failure, not a simulated one.
    host = "no-such-host.invalid"
    result = client.fetch(f"http://{host}/p", allowed_hosts=frozenset({host}), robots=False)
    assert result.outcome == "error" and result.error.startswith("DNS lookup failed"), result.error
    robots = client.fetch(f"http://{host}/p", allowed_hosts=frozenset({host}))
    assert robots.outcome == "error" and "robots.txt unreachable (DNS lookup failed" in robots.error


def test_a_flapping_page_is_kept_with_its_reason_and_comes_back(site, tmp_path):
    site.set_page("/a.html", ARTICLE)
    src = parse_source({"name": "flap", "kind": "page", "urls": [site.url + "/a.html", site.url + "/b.html"]})
    blobs = BlobStore(tmp_path / "blobs")
    raw = clean = None
    seen = []
    with HttpClient(UA, timeout_s=5, retries=1, backoff_s=0.01) as c:
        for round_, failing in enumerate([None, 503, None, 500, 502, None]):
            if failing:
                site.set_status("/b.html", failing)
            else:
                site.clear_status("/b.html")
                site.set_page("/b.html", ARTICLE.replace("Tide pools", f"Kelp forests {round_}"))
            raw = collect(src, c, raw, blobs).table
            clean = clean_table("flap", raw, clean, blobs).table
            b = clean.filter(pl.col("url").str.ends_with("/b.html")).row(0, named=True)
            seen.append((b["status"], b["title"], b["error"]))
            body_hash = raw.filter(pl.col("url").str.ends_with("/b.html"))["body_hash"][0]
            assert blobs.get(body_hash) is not None  # the last good body is still held
    assert seen == [
        ("ok", "Kelp forests 0", None),
        ("kept", "Kelp forests 0", "HTTP 503 (still failing after 1 retries)"),
        ("ok", "Kelp forests 2", None),
        ("kept", "Kelp forests 2", "HTTP 500 (still failing after 1 retries)"),
        ("kept", "Kelp forests 2", "HTTP 502 (still failing after 1 retries)"),
        ("ok", "Kelp forests 5", None),
    ]


def test_304_without_validators_is_an_error_not_a_confirmation(client):
    with SiteServer() as site:
        site.set_status("/a.html", 304)
        result = get(client, site, "/a.html")
        assert result.outcome == "error" and "304" in result.error and "without validators" in result.error
        assert not result.ok


def test_429_without_retry_after_backs_off_then_succeeds_or_reports(client):
    with SiteServer() as site:
        site.set_page("/a.html", ARTICLE)
        site.set_status("/a.html", 429, times=2)
        result = get(client, site, "/a.html")
        assert result.outcome == "fetched" and site.count("/a.html") == 3
        site.set_status("/a.html", 429)
        started = time.monotonic()
        failed = get(client, site, "/a.html")
        assert failed.outcome == "error" and failed.status == 429
        assert failed.error == "HTTP 429 (still failing after 2 retries)"
        assert time.monotonic() - started < 2  # backoff, not a hang
        assert site.count("/a.html") == 6


def test_gzip_sitemap_named_gz_but_plain_and_a_broken_child_through_collect(tmp_path):
    with SiteServer() as site:
        urlset = (
            '<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
            + "".join(f"<url><loc>{site.url}/p{i}.html</loc></url>" for i in range(3))
            + "</urlset>"
        )
        index = (
            '<?xml version="1.0"?><sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
            + "".join(
                f"<sitemap><loc>{site.url}/{n}</loc></sitemap>"
                for n in ("zipped.xml.gz", "plain.xml.gz", "broken.xml", "index.xml")
            )
            + "</sitemapindex>"
        )
        site.set_page("/index.xml", index)
        site.set_page("/zipped.xml.gz", gzip.compress(urlset.encode()))
        site.set_page("/plain.xml.gz", urlset.replace("/p", "/q"))
        site.set_page("/broken.xml", "<urlset><url><loc>oops")
        for i in range(3):
            site.set_page(f"/p{i}.html", ARTICLE)
            site.set_page(f"/q{i}.html", ARTICLE)
        src = parse_source({"name": "sm", "kind": "sitemap", "url": site.url + "/index.xml"})
        collected, _ = _collect(src, tmp_path)
    docs = collected.table.filter(pl.col("role") == "document")
    assert docs.height == 6 and set(docs["outcome"]) == {"fetched"}
    assert not collected.complete  # a child could not be read: nothing may be taken as deleted
    errors = " | ".join(collected.errors)
    assert "broken.xml: malformed XML" in errors and "sitemap loop" in errors
