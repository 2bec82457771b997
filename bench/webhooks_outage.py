"""A webhook receiver down for `--down` seconds (default 600: the issue's 10 minutes), then back,
with the deliverer's real backoff (5 s doubling to 5 min).

The real change log (`changes/log.py`, SQLite) records a generation of `--docs` documents, then a
new generation every `--every` seconds during the outage, each changing some documents; the real
`WebhookDeliverer` POSTs to a receiver on 127.0.0.1 that answers 503 while down and verifies every
delivery with `standardwebhooks` once back. Printed: events recorded during the outage,
seconds from the receiver's return to the last delivery, and whether every event arrived exactly
once (one `webhook-id` each), in log order.

    python bench/webhooks_outage.py [--down 600] [--every 60] [--docs 20]
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--down", type=float, default=600.0)
    parser.add_argument("--every", type=float, default=60.0)
    parser.add_argument("--docs", type=int, default=20)
    args = parser.parse_args()

    from infra_assets.changes.log import ChangeLog, Document
    from infra_assets.changes.webhooks import WebhookDeliverer
    from infra_assets.sources.spec import WebhookSpec
    from tests.integration.test_changes import SECRET, Receiver

    receiver = Receiver()
    log = ChangeLog(Path(tempfile.mkdtemp(prefix="infra-assets-outage-")) / "changes.sqlite")
    hook = WebhookSpec(url=receiver.url, secret_env="HOOK_SECRET")
    generation = [0]

    def record(changed: set[int]) -> None:
        generation[0] += 1
        now = datetime.datetime.now(datetime.timezone.utc)
        docs = [
            Document(
                "bench",
                f"https://example.org/doc/{i}",
                f"Doc {i}",
                f"Document {i}, revision {generation[0] if i in changed else 0}.",
                f"h{i}-{generation[0] if i in changed else 0}",
                now,
                now,
            )
            for i in range(args.docs)
        ]
        log.record(f"{generation[0]:06d}", docs, lambda title, text: [text])

    record(set(range(args.docs)))  # the first generation: every document added
    deliverer = WebhookDeliverer(log, lambda: [hook], log.recorded_version, env={"HOOK_SECRET": SECRET})
    deliverer.tick()  # the webhook is new: it starts at the newest event, the outage's are its own
    original = receiver.status
    receiver.status = 503

    stop = threading.Event()
    worker = threading.Thread(target=deliverer.run, args=(stop,), daemon=True)
    worker.start()
    started = time.monotonic()
    n = 0
    while time.monotonic() - started < args.down:
        n += 1
        record({(n * 3 + j) % args.docs for j in range(3)})
        time.sleep(min(args.every, max(0.0, args.down - (time.monotonic() - started))))
    expected = [e.id for e in log.read(0, limit=100_000)[0]][args.docs :]
    receiver.status = original
    back = time.monotonic()
    got = receiver.wait_for(len(expected), timeout=900)
    delivered_s = time.monotonic() - back
    time.sleep(10)  # anything sent twice would arrive now
    stop.set()
    worker.join(30)
    ids = [int(d["data"]["id"]) for _, d in receiver.verified]
    result = {
        "date": datetime.date.today().isoformat(),
        "down_s": args.down,
        "events_during_outage": len(expected),
        "delivered": len(receiver.verified),
        "rejected_signatures": receiver.rejected,
        "seconds_from_return_to_last_delivery": round(delivered_s, 1),
        "every_event_once_in_order": ids == expected,
        "distinct_webhook_ids": len({h["webhook-id"] for h, _ in got}),
    }
    print(json.dumps(result, indent=1))
    receiver.stop()


if __name__ == "__main__":
    main()
