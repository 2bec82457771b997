"""`python -m infra_assets.demo --port 8765 --pages 30`: serve the demo site until Ctrl-C."""

from __future__ import annotations

import argparse
import threading

from infra_assets.demo.content import demo_site


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra_assets.demo", description=__doc__)
    parser.add_argument("--port", type=int, default=8765, help="port on 127.0.0.1 (0 picks a free one)")
    parser.add_argument("--pages", type=int, default=30, help="number of article pages")
    parser.add_argument("--seed", type=int, default=0, help="seed for generated pages beyond the hand-written ones")
    args = parser.parse_args(argv)
    if args.pages < 1:
        parser.error("--pages must be at least 1")
    server = demo_site(args.pages, port=args.port, seed=args.seed)
    print(f"demo site: {server.url}/index.html ({args.pages} pages)")
    for path in ("/sitemap.xml", "/feed.xml", "/feed.json", "/api/items.json", "/robots.txt"):
        print(f"  {server.url}{path}")
    print("Ctrl-C to stop", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
