"""A paged JSON source larger than the job's memory budget: collection spills to scratch (issue #25).

Usage: .venv/bin/python bench/pipeline_spill.py [pages] [records per page] [small budget MB]
A local API serves PAGES x PER_PAGE flat records (8 columns, a float column that starts as whole
numbers, digit text, dates, a column that appears on the last tenth of the pages) into a Parquet
sink. The same pipeline runs on a server with the small budget, then on one with 4,096 MB (the
anchor: everything held in memory, as before spilling), each with its job worker's peak RSS sampled
from outside the process. Prints one table.
"""

from __future__ import annotations

import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from calibrate import machine_line
from harness import RssSampler, gql, register, running_server
from pipelines import run  # the same create-and-run as bench/pipelines.py

PAGES = int(sys.argv[1]) if len(sys.argv) > 1 else 200
PER_PAGE = int(sys.argv[2]) if len(sys.argv) > 2 else 5_000
SMALL_MB = int(sys.argv[3]) if len(sys.argv) > 3 else 256
LARGE_MB = 4096
PAGE_CACHE: dict[int, bytes] = {}


def page_body(page: int) -> bytes:
    if page not in PAGE_CACHE:
        start = (page - 1) * PER_PAGE
        records = []
        for n in range(start, start + PER_PAGE):
            record = {
                "id": n,
                "amount": n if page < 3 else n + 0.25,
                "code": f"{n:08d}",
                "day": f"2024-{1 + n % 12:02d}-{1 + n % 28:02d}",
                "status": ["paid", "refunded", "NA"][n % 3],
                "customer": f"customer {n % 5_000}",
                "score": (n % 97) / 7,
            }
            if page > PAGES * 0.9:
                record["discount"] = n % 7 * 0.5
            records.append(record)
        PAGE_CACHE[page] = json.dumps({"items": records if page <= PAGES else []}).encode()
    return PAGE_CACHE[page]


class Source(BaseHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:
        body = page_body(int(parse_qs(urlsplit(self.path).query).get("page", ["1"])[0]))
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def run_once(origin: str, memory_mb: int) -> dict:
    env = {"ASSAY_ALLOWED_SOURCE_HOSTS": "127.0.0.1", "ASSAY_JOB_MEMORY_MB": str(memory_mb)}
    env["ASSAY_MAX_SOURCE_RECORDS"] = str(PAGES * PER_PAGE + 1)
    with running_server(**env) as (base, process), RssSampler(process.pid) as rss:
        token = register(base)
        source = {"url": f"{origin}/api", "pageParam": "page", "recordsPath": "items", "maxPages": PAGES + 1}
        ran = run(base, token, {"http": source}, {"parquet": {"name": "out"}})
        peak = rss.peak_workers
        shown = gql(
            base,
            "{ pipelines(first: 1) { edges { node { lastRun { rowsOut } outputSchema { name dtype } } } } }",
            None,
            token,
        )["data"]["pipelines"]["edges"][0]["node"]
    return {
        "budget": memory_mb,
        "wall": ran["wall"],
        "collect": ran["stages"].get("collect", 0.0),
        "store": ran["stages"].get("store", 0.0),
        "rows": shown["lastRun"]["rowsOut"],
        "schema": shown["outputSchema"],
        "spilled": any("spilled records on disk" in entry["message"] for entry in ran["logs"]),  # near the end
        "peak": peak,
    }


def main() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Source)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    origin = f"http://127.0.0.1:{server.server_address[1]}"
    for page in range(1, PAGES + 2):
        page_body(page)  # made before timing: the source server shares the benchmark's cores
    small = run_once(origin, SMALL_MB)
    large = run_once(origin, LARGE_MB)
    server.shutdown()
    assert small["rows"] == large["rows"] == PAGES * PER_PAGE and small["schema"] == large["schema"]
    print(f"\n{PAGES} pages x {PER_PAGE:,} records = {PAGES * PER_PAGE:,} rows, into a Parquet version\n")
    print("| budget | spilled | rows | collect | store | mutation to SUCCEEDED | peak job worker RSS |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for result in (small, large):
        label = f"{result['budget']:,} MB" + (" (anchor: held in memory)" if result is large else "")
        print(
            f"| {label} | {'yes' if result['spilled'] else 'no'} | {result['rows']:,} | {result['collect']:.2f} s | "
            f"{result['store']:.2f} s | {result['wall']:.2f} s | {result['peak'] / 2**20:,.0f} MB |"
        )
    print("\nSame rows and output schema under both budgets: yes")
    print(machine_line())


if __name__ == "__main__":
    main()
