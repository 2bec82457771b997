"""The HTTP client against a real server on 127.0.0.1: validators, robots.txt, retries, limits."""

from __future__ import annotations

import gzip
import socket
import time
from itertools import pairwise

import pytest

from infra_assets.components.resources import HttpResource
from infra_assets.demo import SiteServer
from infra_assets.fetch import HttpClient
from tests.support.project import TEST_UA, get

UA = TEST_UA
PAGE = "<html><body><p>" + "Tide pools hold anemones and limpets. " * 100 + "</p></body></html>"


@pytest.fixture
def site():
    with SiteServer() as server:
        server.set_page("/robots.txt", "User-agent: *\nDisallow: /private/\n", "text/plain")
        server.set_page("/a.html", PAGE)
        yield server


def test_fetch_then_not_modified_by_etag(site, client):
    first = get(client, site, "/a.html")
    assert first.outcome == "fetched" and first.status == 200
    assert first.body == PAGE.encode() and first.nbytes == len(PAGE)
    assert first.content_type.startswith("text/html") and first.etag and first.last_modified
    second = get(client, site, "/a.html", etag=first.etag)
    assert second.outcome == "not_modified" and second.status == 304 and second.body is None
    assert second.etag == first.etag
    assert site.requests[-1].if_none_match == first.etag


def test_not_modified_by_last_modified_only(site, client):
    site.set_page("/dated.html", "<p>dated</p>", etag=False)
    first = get(client, site, "/dated.html")
    assert first.etag is None and first.last_modified
    second = get(client, site, "/dated.html", last_modified=first.last_modified)
    assert second.outcome == "not_modified"
    assert site.requests[-1].if_modified_since == first.last_modified
    assert site.requests[-1].if_none_match is None


def test_changed_content_is_fetched_with_a_new_etag(site, client):
    first = get(client, site, "/a.html")
    site.set_page("/a.html", PAGE.replace("limpets", "sea stars"))
    second = get(client, site, "/a.html", etag=first.etag, last_modified=first.last_modified)
    assert second.outcome == "fetched" and b"sea stars" in second.body
    assert second.etag != first.etag


@pytest.mark.parametrize("status", [404, 410])
def test_missing_pages_are_gone(site, client, status):
    site.remove_page("/a.html", status=status)
    result = get(client, site, "/a.html")
    assert result.outcome == "gone" and result.status == status and result.body is None
    assert site.count("/a.html") == 1  # a 4xx is an answer, not a reason to retry


def test_other_client_errors_are_errors_without_retries(site, client):
    site.set_status("/a.html", 403)
    result = get(client, site, "/a.html")
    assert result.outcome == "error" and result.status == 403 and "403" in result.error
    assert site.count("/a.html") == 1


def test_robots_disallowed_url_is_never_requested(site, client):
    site.set_page("/private/secret.html", "secret")
    result = get(client, site, "/private/secret.html")
    assert result.outcome == "disallowed" and "robots.txt" in result.error
    assert not client.robots_allows(site.url + "/private/other.html")
    assert client.robots_allows(site.url + "/a.html")
    assert site.count("/private/secret.html") == 0
    assert site.count("/robots.txt") == 1  # fetched once, then cached


def test_robots_rules_for_our_agent_by_name(site, client):
    site.set_page(
        "/robots.txt",
        "User-agent: infra-assets-test\nDisallow: /a.html\n\nUser-agent: *\nAllow: /\n",
    )
    assert get(client, site, "/a.html").outcome == "disallowed"
    with HttpClient("some-other-bot/1.0", retries=0) as other:
        assert get(other, site, "/a.html").outcome == "fetched"


def test_robots_server_error_disallows_everything(site, client):
    site.set_status("/robots.txt", 503)
    result = get(client, site, "/a.html")
    # Nothing is fetched, and the outcome says the site failed rather than that it said no.
    assert result.outcome == "error" and "robots.txt answered HTTP 503" in result.error
    assert not client.robots_allows(site.url + "/a.html")
    assert site.count("/a.html") == 0
    assert site.count("/robots.txt") == 3  # the first try and two retries, then never again
    get(client, site, "/b.html")
    assert site.count("/robots.txt") == 3


def test_robots_missing_allows_everything(site, client):
    site.remove_page("/robots.txt")
    site.set_page("/private/secret.html", "not so secret")
    assert get(client, site, "/private/secret.html").outcome == "fetched"


def test_robots_can_be_skipped_for_a_fetch(site, client):
    site.set_page("/private/secret.html", "x")
    assert get(client, site, "/private/secret.html", robots=False).outcome == "fetched"
    assert site.count("/robots.txt") == 0


def test_server_errors_are_retried_then_succeed(site, client):
    site.set_status("/a.html", 500, times=2)
    result = get(client, site, "/a.html")
    assert result.outcome == "fetched" and result.body == PAGE.encode()
    assert site.count("/a.html") == 3


def test_retries_are_bounded(site, client):
    site.set_status("/a.html", 502)
    result = get(client, site, "/a.html")
    assert result.outcome == "error" and result.status == 502
    assert "502" in result.error and "retries" in result.error
    assert site.count("/a.html") == 3


def test_backoff_grows_between_retries(site):
    site.set_status("/a.html", 503)
    with HttpClient(UA, retries=2, backoff_s=0.2) as slow:
        started = time.monotonic()
        get(slow, site, "/a.html")
        elapsed = time.monotonic() - started
    times = [r.time for r in site.requests if r.path == "/a.html"]
    gaps = [(b - a).total_seconds() for a, b in pairwise(times)]
    assert gaps[0] >= 0.18 and gaps[1] >= 0.38, gaps  # 0.2 s, then 0.4 s
    assert elapsed < 2.0


def test_retry_after_is_honoured(site, client):
    site.set_status("/a.html", 429, {"Retry-After": "1"}, times=1)
    started = time.monotonic()
    result = get(client, site, "/a.html")
    assert result.outcome == "fetched"
    assert time.monotonic() - started >= 0.95
    assert site.count("/a.html") == 2


def test_retry_after_is_capped(site):
    site.set_status("/a.html", 503, {"Retry-After": "3600"})
    with HttpClient(UA, retries=1, backoff_s=0.01, retry_after_max_s=1) as c:
        started = time.monotonic()
        result = get(c, site, "/a.html")
        elapsed = time.monotonic() - started
    assert result.outcome == "error" and result.status == 503
    assert 0.95 <= elapsed < 3.0
    assert site.count("/a.html") == 2


def test_redirects_are_followed_on_host(site, client):
    site.set_redirect("/old.html", "/a.html", status=301)
    result = get(client, site, "/old.html")
    assert result.outcome == "fetched" and result.final_url == site.url + "/a.html"
    assert result.url == site.url + "/old.html"


def test_off_host_redirect_is_refused(site, client):
    with SiteServer() as elsewhere:
        elsewhere.set_page("/x.html", "elsewhere")
        site.set_redirect("/go.html", elsewhere.url + "/x.html", status=302)
        result = get(client, site, "/go.html")
        assert result.outcome == "off_host" and result.status == 302
        assert elsewhere.host in result.error
        assert elsewhere.count() == 0
        allowed = frozenset({site.host, elsewhere.host})
        assert client.fetch(site.url + "/go.html", allowed_hosts=allowed).outcome == "fetched"


def test_off_host_url_is_refused_before_any_request(site, client):
    result = client.fetch(site.url + "/a.html", allowed_hosts=frozenset({"example.org"}))
    assert result.outcome == "off_host" and result.status is None
    assert site.count() == 0


def test_redirect_into_a_disallowed_path_is_not_followed(site, client):
    site.set_page("/private/p.html", "p")
    site.set_redirect("/r.html", "/private/p.html")
    assert get(client, site, "/r.html").outcome == "disallowed"
    assert site.count("/private/p.html") == 0


def test_redirect_loops_end(site, client):
    site.set_redirect("/loop1", "/loop2")
    site.set_redirect("/loop2", "/loop1")
    result = get(client, site, "/loop1")
    assert result.outcome == "error" and "redirects" in result.error
    assert site.count("/loop1") + site.count("/loop2") == 6


def test_size_cap_by_content_length(site, client):
    result = get(client, site, "/a.html", max_bytes=1000)
    assert result.outcome == "error" and "larger than 1000 bytes" in result.error
    assert result.body is None


def test_size_cap_while_streaming_a_compressed_body(site, client):
    # Small on the wire, large once decoded: the cap must apply to what we would keep.
    bomb = gzip.compress(b"a" * 2_000_000)
    site.set_page("/bomb.txt", bomb, "text/plain", headers={"Content-Encoding": "gzip"})
    result = get(client, site, "/bomb.txt", max_bytes=100_000)
    assert result.outcome == "error" and result.error == "response larger than 100000 bytes"
    ok = get(client, site, "/bomb.txt", max_bytes=3_000_000)
    assert ok.outcome == "fetched" and ok.body == b"a" * 2_000_000


def test_trickling_response_ends_at_the_deadline(site, client):
    site.set_trickle("/a.html", 0.05, chunk_size=8)  # the whole page would take ~25 s
    started = time.monotonic()
    result = get(client, site, "/a.html", timeout_s=0.6)
    elapsed = time.monotonic() - started
    assert result.outcome == "error" and "deadline" in result.error
    assert 0.5 <= elapsed < 1.5, elapsed


def test_silent_server_times_out(site):
    site.set_delay("/a.html", 3)
    with HttpClient(UA, retries=0, timeout_s=0.3) as c:
        started = time.monotonic()
        result = get(c, site, "/a.html")
        assert result.outcome == "error" and "0.3" in result.error
        assert time.monotonic() - started < 1.5


def test_user_agent_is_sent_everywhere(site, client):
    get(client, site, "/a.html")
    assert [r.path for r in site.requests] == ["/robots.txt", "/a.html"]
    assert {r.user_agent for r in site.requests} == {UA}


def test_connection_refused_is_an_error_not_an_exception(client):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nobody listens here once the socket closes
    result = client.fetch(f"http://127.0.0.1:{port}/x", allowed_hosts=frozenset({f"127.0.0.1:{port}"}), robots=False)
    assert result.outcome == "error" and "connection failed" in result.error


def test_unreachable_robots_disallows(client):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = client.fetch(f"http://127.0.0.1:{port}/x", allowed_hosts=frozenset({f"127.0.0.1:{port}"}))
    assert result.outcome == "error" and "robots.txt unreachable" in result.error


def test_non_http_urls_are_errors(client):
    result = client.fetch("ftp://127.0.0.1/x", allowed_hosts=frozenset({"127.0.0.1"}))
    assert result.outcome == "error" and "http" in result.error


def test_http_resource_hands_out_a_configured_client(site):
    resource = HttpResource(user_agent=UA, retries=1, backoff_s=0.01)
    with resource.client() as c:
        site.set_status("/a.html", 500)
        assert get(c, site, "/a.html").outcome == "error"
        assert site.count("/a.html") == 2
        assert site.requests[-1].user_agent == UA


def test_max_rps_spaces_requests_to_a_host(site, client):
    # Five requests at 10/s need at least four gaps of 0.1 s; the pacer is a lower bound, so
    # this holds however slow the machine is.
    started = time.monotonic()
    for _ in range(5):
        assert get(client, site, "/a.html", max_rps=10).outcome == "fetched"
    assert time.monotonic() - started >= 0.4


def test_max_rps_is_shared_across_threads(site, client):
    from concurrent.futures import ThreadPoolExecutor

    started = time.monotonic()
    with ThreadPoolExecutor(4) as pool:
        outcomes = list(pool.map(lambda _: get(client, site, "/a.html", max_rps=20).outcome, range(8)))
    assert outcomes == ["fetched"] * 8
    assert time.monotonic() - started >= 7 / 20
