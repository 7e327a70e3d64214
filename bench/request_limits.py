"""What the transport's pre-parse checks cost, beside plain `json.loads` of the same body (the reference).

Bodies: a typical query (200 bytes), a 64 KB upload `operations` field, and a 7 MB `predict` body
(100,000 rows inline, the largest JSON body the default ASSAY_MAX_REQUEST_MB allows). The checks:
size, UTF-8, nesting depth and number length on the bytes (server.request_limits.measure_json),
then json.loads, then the string-length walk over variables. Median of 5 runs (small bodies: of
1,000 decodes each).
Usage: .venv/bin/python bench/request_limits.py
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.calibrate import machine_line
from server.request_limits import RequestLimits

QUERY = "mutation($m: ID!, $r: [JSON!]!) { predict(input: {modelId: $m, rows: $r}) { errors { code } } }"


def body_of(rows: int) -> bytes:
    data = [
        {"city": f"Oslo {i}", "temp": i * 0.25, "day": "2024-01-02", "n": i, "ok": i % 2 == 0, "x": None}
        for i in range(rows)
    ]
    return json.dumps({"query": QUERY, "variables": {"m": "TW9kZWw6MQ==", "r": data}}).encode()


def median_ms(work, repeats: int = 5, inner: int = 1) -> float:
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        for _ in range(inner):
            work()
        times.append((time.perf_counter() - began) / inner * 1000)
    return statistics.median(times)


def main() -> None:
    print(machine_line())
    limits = RequestLimits()

    def checked(body: bytes) -> None:
        parsed = limits.decode(body)
        limits.check_operation(parsed["query"], parsed["variables"], None, None)

    bodies = {
        "typical query": json.dumps({"query": "{ health { status } }", "variables": {"a": 1}}).encode(),
        "64 KB operations": body_of(800),
        "7 MB predict body": body_of(80_000),
    }
    print(f"{'body':<20} {'bytes':>10} {'json.loads ms':>14} {'checked ms':>11} {'ratio':>6}")
    for name, body in bodies.items():
        inner = 1000 if len(body) < 100_000 else 1
        plain = median_ms(lambda body=body: json.loads(body), inner=inner)
        ours = median_ms(lambda body=body: checked(body), inner=inner)
        print(f"{name:<20} {len(body):>10,} {plain:>14.3f} {ours:>11.3f} {ours / plain:>6.1f}")


if __name__ == "__main__":
    main()
