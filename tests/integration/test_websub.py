"""WebSub end to end: a feed on a local site advertises a hub; a real hub on 127.0.0.1 (written
here, as the W3C specification describes the hub's side: there is none to install) takes the
API's subscription, verifies its intent with a challenge, grants a short lease (so the renewal is
seen), and delivers new content signed with the secret it was given. A signed delivery becomes a
notification, which the `notifications` sensor turns into the feed source's run; an unsigned or
wrongly signed one is acknowledged and ignored."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode

import dagster as dg
import requests

from infra_assets.changes.websub import WebSubState, check_signature, discover
from infra_assets.serve.http import create_app
from infra_assets.serve.notify import pending
from infra_assets.serve.searcher import Searcher
from tests.support.servers import Api

KEY = {"authorization": "Bearer a-key-the-hub-does-not-have"}
ENTRY = (
    "The lighthouse keepers of Cape Wrath logged {n} ships passing in the autumn gales, and each log line names "
    "the ship, its flag and the hour it rounded the cape; the {topic} was noted on every page of the logbook."
)


def atom(site_url: str, hub_url: str, topics: list[str]) -> str:
    entries = "".join(
        f"<entry><id>urn:e:{i}</id><title>Logbook {topic}</title><link href='{site_url}/log/{i}'/>"
        f"<updated>2026-11-0{i + 1}T10:00:00Z</updated><content type='html'>&lt;p&gt;"
        f"{ENTRY.format(n=100 + i, topic=topic)}&lt;/p&gt;</content></entry>"
        for i, topic in enumerate(topics)
    )
    return (
        "<?xml version='1.0' encoding='utf-8'?><feed xmlns='http://www.w3.org/2005/Atom'>"
        f"<title>Logbooks</title><id>urn:logbooks</id><updated>2026-11-09T10:00:00Z</updated>"
        f"<link rel='hub' href='{hub_url}'/><link rel='self' href='{site_url}/feed.atom'/>{entries}</feed>"
    )


class Hub:
    """A WebSub hub on 127.0.0.1: subscribe requests, intent verification, signed delivery."""

    def __init__(self, lease_s: int = 3) -> None:
        self.lease_s = lease_s
        self.requests: list[dict[str, str]] = []
        self.verified: list[dict[str, str]] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                form = parse_qs(self.rfile.read(int(self.headers.get("content-length") or 0)).decode())
                params = {k: v[0] for k, v in form.items()}
                owner.requests.append(params)
                self.send_response(202)
                self.end_headers()
                threading.Thread(target=owner.verify, args=(params,), daemon=True).start()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hub"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def verify(self, params: dict[str, str]) -> None:
        challenge = secrets.token_hex(8)
        query = {
            "hub.mode": params["hub.mode"],
            "hub.topic": params["hub.topic"],
            "hub.challenge": challenge,
            "hub.lease_seconds": str(self.lease_s),
        }
        answer = requests.get(f"{params['hub.callback']}?{urlencode(query)}", timeout=10)
        if answer.status_code == 200 and answer.text == challenge:
            self.verified.append(params)

    def deliver(self, body: bytes, secret: str | None) -> int:
        params = self.verified[-1]
        headers = {"content-type": "application/atom+xml"}
        if secret is not None:
            headers["x-hub-signature"] = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        return requests.post(params["hub.callback"], data=body, headers=headers, timeout=10).status_code

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def wait(predicate, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("timed out")


def test_a_feed_with_a_hub_is_subscribed_verified_renewed_and_pushed(project, site):
    hub = Hub(lease_s=3)
    site.set_page("/feed.atom", atom(site.url, hub.url, ["tide tables"]), "application/atom+xml")
    api = Api(
        create_app(
            Searcher(project.data_dir / "serving"),
            data_dir=project.data_dir,
            sources_path=project.sources_path,
            api_key=KEY["authorization"].removeprefix("Bearer "),
            websub_poll_s=0.2,
        )
    )
    try:
        feed = f"{site.url}/feed.atom"
        project.write_sources([{"name": "logs", "kind": "feed", "url": feed}], websub={"callback": api.url})
        assert project.materialize().success

        # Subscribed and verified: the challenge was echoed for the topic the feed names itself.
        first = wait(lambda: hub.verified)[0]
        assert first["hub.topic"] == feed and first["hub.callback"] == f"{api.url}/websub/logs"
        assert len(first["hub.secret"]) >= 32
        state = WebSubState.of(project.data_dir)
        assert wait(lambda: (state.get("logs") or {}).get("state") == "active")
        # The hub granted 3 s: the subscriber renews before the lease ends, with the same secret.
        wait(lambda: len(hub.verified) >= 2, timeout=10)
        assert hub.verified[1]["hub.secret"] == first["hub.secret"]

        # An intent check this folder did not ask for is refused.
        q = {"hub.mode": "subscribe", "hub.topic": f"{site.url}/other.atom", "hub.challenge": "x"}
        assert requests.get(f"{api.url}/websub/logs", params=q, timeout=10).status_code == 404
        q = {"hub.mode": "unsubscribe", "hub.topic": feed, "hub.challenge": "x"}
        assert requests.get(f"{api.url}/websub/logs", params=q, timeout=10).status_code == 404

        # A delivery without or with a wrong signature: acknowledged, ignored.
        body = atom(site.url, hub.url, ["tide tables", "fog signal"]).encode()
        assert hub.deliver(body, None) == 202
        assert hub.deliver(body, "not-the-secret") == 202
        assert pending(project.data_dir, {}) == {}
        assert state.get("logs")["rejected"] == 2
        shown = requests.get(f"{api.url}/sources", headers=KEY, timeout=10).json()["websub"]["logs"]
        assert shown["state"] == "active" and shown["rejected"] == 2 and "secret" not in shown

        # A signed delivery: a notification of the source, and its run makes the entry searchable.
        site.set_page("/feed.atom", body.decode(), "application/atom+xml")
        assert hub.deliver(body, first["hub.secret"]) == 202
        notes = pending(project.data_dir, {})["logs"]
        assert len(notes) == 1 and notes[0].urls == [f"{site.url}/log/0", f"{site.url}/log/1"]
        sensor = project.defs().get_sensor_def("notifications")
        result = sensor(dg.build_sensor_context(instance=project.instance))
        assert [r.tags["infra_assets/trigger"] for r in result.run_requests] == ["notify"]
        assert project.materialize().success

        def top_hit():
            found = requests.get(f"{api.url}/search", params={"q": "fog signal", "k": 1}, headers=KEY, timeout=10)
            results = found.json().get("results") if found.status_code == 200 else None
            return results[0] if results and "fog signal" in (results[0]["text"] or "") else None

        assert wait(top_hit)["url"] == f"{site.url}/log/1"
    finally:
        api.stop()
        hub.stop()


def test_discovery_and_signatures():
    body = atom("http://s.example", "http://hub.example/h", ["a"]).encode()
    found = discover(body, {}, "http://s.example/feed")
    assert (found.hub, found.topic) == ("http://hub.example/h", "http://s.example/feed.atom")
    by_header = discover(b"<rss/>", {"link": '<https://h.example/>; rel="hub", <https://t.example/f>; rel="self"'}, "x")
    assert (by_header.hub, by_header.topic) == ("https://h.example/", "https://t.example/f")
    assert discover(b"<feed xmlns='http://www.w3.org/2005/Atom'/>", {}, "http://s.example/f") is None
    sig = hmac.new(b"k", b"body", hashlib.sha512).hexdigest()
    assert check_signature(f"sha512={sig}", b"body", "k")
    assert not check_signature(f"sha512={sig}", b"body!", "k")
    assert not check_signature(f"md5={sig}", b"body", "k") and not check_signature(None, b"body", "k")
