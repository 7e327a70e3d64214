"""Pipelines against a local JSON API (100 pages x 1,000 records) and a 5,000-row HTML table.

Usage: .venv/bin/python bench/pipelines.py
Reports rows/s per stage and the share of collection time spent outside waiting on the network.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from calibrate import machine_line
from harness import RssSampler, gql, register, running_server, wait_for_job_over_websocket

PAGES, PER_PAGE, HTML_ROWS = 100, 1000, 5000
SLOW_SERVER_SECONDS = 0.3  # an illustration for the open question on the HTML target, labelled as such
LISTING_PAGES, LISTING_ROWS = 50, 100
PAGE_CACHE: dict[int, bytes] = {}
HTML = (
    "<html><body><table>"
    + "".join(
        f'<tr class="r"><td class="n">item {i}</td><td class="p">{i * 0.5}</td><td><a href="/i/{i}">x</a></td></tr>'
        for i in range(HTML_ROWS)
    )
    + "</table></body></html>"
).encode()


def listing_page(page: int) -> bytes:
    """A page of a paged HTML listing, with a relative link to the next page."""
    rows = "".join(
        f'<tr class="r"><td class="n">item {page}-{i}</td><td class="p">{i * 0.5}</td>'
        f'<td><a href="/i/{page}/{i}">x</a></td></tr>'
        for i in range(LISTING_ROWS)
    )
    following = f'<a class="next" href="?page={page + 1}">next</a>' if page < LISTING_PAGES else ""
    return f"<html><body><table>{rows}</table>{following}</body></html>".encode()


class Source(BaseHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if url.path == "/table.html":
            body, kind = HTML, "text/html"
        elif url.path == "/slow-table.html":  # the same page from a server that takes 0.3 s to produce it
            time.sleep(SLOW_SERVER_SECONDS)
            body, kind = HTML, "text/html"
        elif url.path == "/listing.html":
            body, kind = listing_page(int(parse_qs(url.query).get("page", ["1"])[0])), "text/html"
        else:
            page = int(parse_qs(url.query).get("page", ["1"])[0])
            if page not in PAGE_CACHE:
                records = [
                    {"id": page * PER_PAGE + i, "name": f"n{i}", "meta": {"score": i * 0.1, "tag": f"t{i % 7}"}}
                    for i in range(PER_PAGE)
                ]
                PAGE_CACHE[page] = json.dumps(
                    {"items": records, "next": f"/api?page={page + 1}" if page < PAGES else None}
                ).encode()
            body, kind = PAGE_CACHE[page], "application/json"
        self.send_response(200)
        self.send_header("content-type", kind)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def run(base: str, token: str, source: dict, sink: dict, steps: list | None = None, checks: list | None = None) -> dict:
    created = gql(
        base,
        """mutation($input: CreatePipelineInput!) { createPipeline(input: $input) { pipeline { id }
        errors { message } } }""",
        {"input": {"name": "bench", "source": source, "sink": sink, "steps": steps or [], "checks": checks or []}},
        token,
    )
    pipeline_id = created["data"]["createPipeline"]["pipeline"]["id"]
    started = gql(
        base, "mutation($id: ID!) { runPipeline(input: {id: $id}) { job { id } } }", {"id": pipeline_id}, token
    )
    job_id = started["data"]["runPipeline"]["job"]["id"]
    began = time.perf_counter()
    wait_for_job_over_websocket(base, token, job_id)
    wall = time.perf_counter() - began
    job = gql(
        base,
        "query($id: ID!) { job(id: $id) { status error timeline { stage durationMs } logs(last: 200) { message } } }",
        {"id": job_id},
        token,
    )["data"]["job"]
    assert job["status"] == "SUCCEEDED", job
    return {"wall": wall, "stages": {t["stage"]: t["durationMs"] / 1000 for t in job["timeline"]}, "logs": job["logs"]}


CHECKS = [
    {"column": "id", "unique": True, "notNull": True},
    {"column": "meta.score", "min": 0, "max": 1000},
    {"column": "meta.tag", "allowedValues": [f"t{i}" for i in range(7)]},
    {"column": "name", "pattern": "n[0-9]+"},
]

# The three columns every HTML page here holds: one row per <tr class="r">.
FIELDS = [
    {"name": "name", "selector": "td.n"},
    {"name": "price", "selector": "td.p"},
    {"name": "link", "selector": "a", "attribute": "href"},
]


def _validate(stages: dict, rows: int) -> str:
    if "validate" not in stages:
        return "-"
    return f"{stages['validate']:.2f} s ({rows / max(stages['validate'], 1e-6):,.0f} rows/s)"


def waited(logs: list[dict]) -> float:
    for entry in logs:
        if "Collected" in entry["message"]:
            print(entry["message"])
    for entry in logs:
        if "waiting on the network" in entry["message"]:
            return float(entry["message"].split("(")[1].split(" s")[0])
    return 0.0


def main() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Source)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    origin = f"http://127.0.0.1:{server.server_address[1]}"
    with running_server(ASSAY_ALLOWED_SOURCE_HOSTS="127.0.0.1") as (base, process), RssSampler(process.pid) as rss:
        token = register(base)
        api = run(
            base,
            token,
            {
                "http": {
                    "url": f"{origin}/api?page=1",
                    "recordsPath": "items",
                    "nextPagePath": "next",
                    "maxPages": PAGES,
                }
            },
            {"parquet": {"name": "api"}},
            [{"dropDuplicates": {}}, {"impute": {"strategy": "MEDIAN"}}],
            CHECKS,
        )
        html, slow_html = (  # the same table, from a prompt server and from a slow one
            run(
                base,
                token,
                {"scrape": {"url": url, "rowSelector": "tr.r", "fields": FIELDS}},
                {"sqlite": {"table": "items"}},
            )
            for url in (f"{origin}/table.html", f"{origin}/slow-table.html")
        )
        listing = run(
            base,
            token,
            {
                "scrape": {
                    "url": f"{origin}/listing.html?page=1",
                    "rowSelector": "tr.r",
                    "nextPageSelector": "a.next",
                    "maxPages": LISTING_PAGES,
                    "fields": FIELDS,
                }
            },
            {"parquet": {"name": "listing"}},
        )
    server.shutdown()
    print("\n" + machine_line())
    print("\n## Pipelines\n")
    print("| run | rows | collect | process | validate | store | network wait / collect | peak worker RSS |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for name, result, rows in (
        ("JSON API, 100 pages x 1,000 -> Parquet (2 steps, 6 check rules)", api, PAGES * PER_PAGE),
        ("HTML table, 5,000 rows -> SQLite", html, HTML_ROWS),
        (f"(illustration) same table, server taking {SLOW_SERVER_SECONDS:g} s to answer", slow_html, HTML_ROWS),
        (
            f"HTML listing, {LISTING_PAGES} pages x {LISTING_ROWS} rows (nextPageSelector) -> Parquet",
            listing,
            LISTING_PAGES * LISTING_ROWS,
        ),
    ):
        stages = result["stages"]
        wait = waited(result["logs"])
        print(
            f"| {name} | {rows:,} | {stages['collect']:.2f} s ({rows / stages['collect']:,.0f} rows/s) | "
            f"{stages['process']:.2f} s ({rows / max(stages['process'], 1e-6):,.0f} rows/s) | "
            f"{_validate(stages, rows)} | "
            f"{stages['store']:.2f} s ({rows / max(stages['store'], 1e-6):,.0f} rows/s) | "
            f"{wait:.3f} s of {stages['collect']:.3f} s ({wait / stages['collect']:.0%}) | "
            f"{rss.peak_workers / 2**20:,.0f} MB |"
        )
    print("\nTarget: under 10% of collection time outside waiting on the network (i.e. >= 90% waiting).")


if __name__ == "__main__":
    main()
