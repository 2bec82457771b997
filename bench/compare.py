"""Run one benchmark on two checkouts of the project, alternated, and put their figures side by side.

The machine is shared and noisy, so a change is measured against the code without it in one
session: `before` (another checkout, e.g. a `git worktree` of an older commit, with its own
`.venv`) and this checkout take turns, `--repeat` times each, every run under
`flock /tmp/bench.lock`. Each run is the checkout's own copy of the script, run by the checkout's
own interpreter, so each side measures its own code (`--shared-script`: this checkout's copy on
both sides, run by each side's interpreter); the last JSON line a run prints is its result.

    python bench/compare.py --before ../before --repeat 3 -- defs_load.py --sources 1000 --repeat 1
    python bench/compare.py --before ../before --repeat 3 --json -- serving.py --json

The summary gives, for every numeric field the runs report (nested fields as dotted names), the
median of each side with every run beside it, and the ratio after / before.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def interpreter(checkout: Path) -> str:
    venv = checkout / ".venv" / "bin" / "python"
    return str(venv) if venv.exists() else sys.executable


def run(checkout: Path, script: list[str], env: dict[str, str], shared: bool = False) -> dict[str, Any]:
    path = (ROOT if shared else checkout) / "bench" / script[0]
    command = ["flock", "/tmp/bench.lock", interpreter(checkout), str(path), *script[1:]]
    started = time.monotonic()
    out = subprocess.run(command, cwd=checkout, env=env, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise SystemExit(f"{checkout}: {' '.join(script)} failed ({out.returncode}):\n{out.stderr[-3000:]}")
    lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
    if not lines:
        raise SystemExit(f"{checkout}: {' '.join(script)} printed no JSON line:\n{out.stdout[-2000:]}")
    result = json.loads(lines[-1])
    result["_wall_s"] = round(time.monotonic() - started, 1)
    return result


def flatten(value: Any, prefix: str = "") -> dict[str, float]:
    if isinstance(value, bool):
        return {}
    if isinstance(value, (int, float)):
        return {prefix: float(value)}
    if isinstance(value, dict):
        out: dict[str, float] = {}
        for key, item in value.items():
            out.update(flatten(item, f"{prefix}.{key}" if prefix else str(key)))
        return out
    return {}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", type=Path, required=True, help="the other checkout (its own .venv)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each side, alternated")
    parser.add_argument("--env-before", action="append", default=[], help="NAME=VALUE for the before side only")
    parser.add_argument("--env-after", action="append", default=[], help="NAME=VALUE for this checkout only")
    parser.add_argument("--json", action="store_true", help="print the summary as one JSON line")
    parser.add_argument(
        "--shared-script",
        action="store_true",
        help="run this checkout's copy of the script on both sides (for a script the other "
        "checkout lacks; it must drive the project through its CLI or stable names only)",
    )
    parser.add_argument("script", nargs=argparse.REMAINDER, help="-- SCRIPT.py [ARGS]")
    args = parser.parse_args()
    script = args.script[1:] if args.script[:1] == ["--"] else args.script
    if not script:
        parser.error("give the benchmark after --, e.g. -- defs_load.py --sources 1000")
    sides = {"before": args.before.resolve(), "after": ROOT}
    envs = {}
    for side, extra in (("before", args.env_before), ("after", args.env_after)):
        envs[side] = dict(os.environ, **dict(item.split("=", 1) for item in extra))
    runs: dict[str, list[dict[str, Any]]] = {"before": [], "after": []}
    for i in range(args.repeat):
        for side in ("before", "after") if i % 2 == 0 else ("after", "before"):
            result = run(sides[side], script, envs[side], args.shared_script)
            runs[side].append(result)
            print(f"run {i + 1} {side}: {result['_wall_s']} s", file=sys.stderr, flush=True)
    flat = {side: [flatten(r) for r in results] for side, results in runs.items()}
    fields = [k for k in flat["before"][0] if all(k in r for side in flat.values() for r in side)]
    summary: dict[str, Any] = {"script": " ".join(script), "repeat": args.repeat, "fields": {}}
    for key in fields:
        before = [r[key] for r in flat["before"]]
        after = [r[key] for r in flat["after"]]
        b, a = statistics.median(before), statistics.median(after)
        summary["fields"][key] = {
            "before": round(b, 4),
            "after": round(a, 4),
            "ratio": round(a / b, 3) if b else None,
            "before_runs": [round(x, 4) for x in before],
            "after_runs": [round(x, 4) for x in after],
        }
    if args.json:
        print(json.dumps(summary))
        return
    print(f"{summary['script']}: medians of {args.repeat} alternated runs each (after / before)")
    for key, row in summary["fields"].items():
        print(
            f"  {key:<48} {row['before']:>12} {row['after']:>12}  ×{row['ratio']}  "
            f"before {row['before_runs']} after {row['after_runs']}"
        )


if __name__ == "__main__":
    main()
