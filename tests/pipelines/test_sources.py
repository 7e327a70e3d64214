"""Pipelines against local servers the tests start themselves: paging, retries, scraping, sinks, SSRF, isolation."""
from __future__ import annotations

import json
import sqlite3
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pyarrow.parquet as pq
import pytest
from starlette.testclient import TestClient

from server.app import create_app
from tests.support.graphql import gql, ingest, register, wait_for_job
from tests.support.settings import make_settings

CREATE = """mutation($input: CreatePipelineInput!) { createPipeline(input: $input) {
  pipeline { id name config } errors { code message field } } }"""
RUN = "mutation($id: ID!) { runPipeline(input: {id: $id}) { run { id status } job { id } errors { code message field } } }"
PIPELINE = """query($id: ID!) { pipeline(id: $id) { id name config
  lastRun { status rowsIn rowsOut version error dataset { id name parent { id } } job { kind } }
  runs { totalCount edges { node { status version config } } }
  stats { runs succeeded failed meanSeconds rowsOut }
  outputSchema { name semanticType dtype } data(limit: 5) { columns rows totalRows } } }"""


class Handler(BaseHTTPRequestHandler):
    hits: dict[str, int] = {}
    seen: list[tuple[float, str | None, str | None]] = []  # (when, User-Agent, Cookie) of requests that record them

    def log_message(self, *args) -> None:  # keep test output quiet
        pass

    def _send(self, status: int, body: bytes, content_type: str = "application/json", headers: dict | None = None) -> None:
        self.send_response(status)
        self.send_header("content-type", content_type)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        Handler.hits[url.path] = Handler.hits.get(url.path, 0) + 1
        if url.path == "/api/items":
            page = int(query.get("page", ["1"])[0])
            items = [{"id": page * 10 + i, "user": {"name": f"u{page}{i}", "address": {"city": "Oslo" if i % 2 else "Rome"}},
                      "score": i * 1.5} for i in range(3)]
            body = {"data": {"items": items}, "next": f"/api/items?page={page + 1}" if page < 4 else None}
            self._send(200, json.dumps(body).encode())
        elif url.path == "/api/mixed":
            self._send(200, json.dumps([
                {"id": 1, "tags": ["a", "b"], "when": "2024-01-05", "n": "3.5", "flag": True, "label": "x"},
                {"id": 2, "extra": {"x": 1}, "when": "2024-02-01", "n": "NA", "flag": False, "label": "NA"}]).encode())
        elif url.path == "/api/gappy":  # page 2 of 3 is empty
            page = int(query.get("page", ["1"])[0])
            items = [] if page == 2 else [{"id": page, "name": f"p{page}"}]
            self._send(200, json.dumps({"items": items, "next": f"/api/gappy?page={page + 1}" if page < 3 else None}).encode())
        elif url.path == "/flaky":
            if Handler.hits[url.path] % 2 == 1:
                self._send(503, b"busy")
            else:
                self._send(200, json.dumps([{"a": 1}, {"a": 2}]).encode())
        elif url.path == "/limited":
            if Handler.hits[url.path] % 2 == 1:
                self._send(429, b"slow down", headers={"Retry-After": "1"})
            else:
                self._send(200, json.dumps([{"a": 1}]).encode())
        elif url.path == "/auth":
            ok = self.headers.get("authorization") == "Bearer sekret-token-123456"
            self._send(200 if ok else 401, json.dumps([{"ok": ok}]).encode())
        elif url.path == "/catalog.json":  # the catalogue as it stands at "version" ?v=
            version = int(query.get("v", ["1"])[0])
            items = {1: [{"sku": "a", "size": 1, "price": 1.5}, {"sku": "b", "size": 1, "price": 2.0}],
                     2: [{"sku": "b", "size": 1, "price": 2.5, "stock": 3}, {"sku": "c", "size": 2, "price": 9.0, "stock": 1},
                         {"sku": "c", "size": 2, "price": 8.0, "stock": 0}],
                     3: [{"sku": "d", "size": 1, "price": 1.0}, {"sku": None, "size": 1, "price": 1.0}]}[version]
            self._send(200, json.dumps(items).encode())
        elif url.path == "/orders.json":  # one of everything a check should catch
            self._send(200, json.dumps([
                {"id": 1, "email": "a@x.org", "amount": 10.0, "status": "paid"},
                {"id": 2, "email": "b@x.org", "amount": -5.0, "status": "paid"},
                {"id": 2, "email": None, "amount": 7.5, "status": "lost"},
                {"id": 4, "email": "not an email", "amount": 1e6, "status": "refunded"}]).encode())
        elif url.path == "/exports/prices.csv":  # a CSV export as an open-data portal serves it
            body = "Datum;Artikel;Preis\n05.01.2024;Äpfel;1,25\n06.01.2024;Birnen;2,50\n".encode("cp1252")
            self._send(200, body, "text/csv; charset=windows-1252")
        elif url.path == "/raw/prices.csv.gz":  # served as bytes: the URL says what it is
            import gzip
            self._send(200, gzip.compress(b"sku,qty\na,1\nb,2\nc,3\n"), "application/octet-stream")
        elif url.path == "/download":  # neither type nor name says CSV: format: CSV does
            self._send(200, b"id,when\n1,2024-01-05\n2,2024-02-01\n", "text/plain")
        elif url.path == "/members.html":  # a page behind a cookie, that records who asked and when
            Handler.seen.append((time.monotonic(), self.headers.get("user-agent"), self.headers.get("cookie")))
            page = int(query.get("page", ["1"])[0])
            if self.headers.get("cookie") != "session=members-only-cookie":
                self._send(403, b"<p>sign in</p>", "text/html")
                return
            following = f'<a class="next" href="?page={page + 1}">next</a>' if page < 3 else ""
            self._send(200, f'<p class="m">member {page}</p>{following}'.encode(), "text/html")
        elif url.path == "/who.json":
            Handler.seen.append((time.monotonic(), self.headers.get("user-agent"), None))
            self._send(200, json.dumps([{"a": 1}]).encode())
        elif url.path == "/paged/numbers":  # ?page=N&per_page=2 over 5 records; pages past the end are empty
            page, per_page = int(query["page"][0]), int(query["per_page"][0])
            items = [{"n": n} for n in range(1, 6)][(page - 1) * per_page:page * per_page]
            self._send(200, json.dumps({"items": items}).encode())
        elif url.path == "/paged/offsets":  # ?offset=N: at most 2 records from there, a bare list
            offset = int(query["offset"][0])
            self._send(200, json.dumps([{"n": n} for n in range(1, 6)][offset:offset + 2]).encode())
        elif url.path == "/paged/cursor":  # an opaque cursor in meta.next; the last page has none
            if query.get("token") != ["t1"]:  # the configured params must come with every page
                self._send(401, b"{}")
                return
            position = {"": 0, "c2": 2, "c4": 4}[query.get("after", [""])[0]]
            following = {0: "c2", 2: "c4"}.get(position)
            self._send(200, json.dumps({"data": [{"n": n} for n in range(1, 6)][position:position + 2],
                                        "meta": {"next": following, "token": query.get("token", [None])[0]}}).encode())
        elif url.path == "/to-private":
            self._send(302, b"", headers={"Location": "http://10.255.255.1/latest/meta-data"})
        elif url.path == "/shop/list.html":
            rows = "".join(f'<li class="item"><a href="../p/{i}.html">Item {i}</a><span class="price">{i * 2}.50</span>'
                           f'<img src="/img/{i}.png"></li>' for i in range(1, 6))
            self._send(200, f"<html><body><ul>{rows}</ul><li>not an item</li></body></html>".encode(), "text/html")
        elif url.path.startswith("/catalog/page") and url.path.endswith(".html"):  # 4 pages, relative next links
            page = int(url.path.removeprefix("/catalog/page").removesuffix(".html"))
            rows = "".join(f'<tr class="row"><td>{page}-{i}</td></tr>' for i in range(3))
            following = {1: "page2.html", 2: "./page3.html", 3: "/catalog/page4.html"}.get(page)
            link = f'<a class="next" href="{following}">next</a>' if following else '<span class="next">end</span>'
            self._send(200, f"<html><body><table>{rows}</table>{link}</body></html>".encode(), "text/html")
        elif url.path in ("/loop/a.html", "/loop/b.html"):  # b links back to a
            following = "b.html" if url.path.endswith("a.html") else "a.html"
            self._send(200, f'<p class="r">{url.path}</p><a rel="next" href="{following}">more</a>'.encode(), "text/html")
        elif url.path == "/encoded/header.html":  # the charset named only by the response
            self._send(200, CAFE_PAGE.encode("cp1252"), "text/html; charset=windows-1252")
        elif url.path == "/encoded/meta.html":  # named only by the page itself
            self._send(200, ('<meta charset="iso-8859-1">' + CAFE_PAGE).encode("cp1252"), "text/html")
        elif url.path == "/encoded/bogus.html":  # a charset label that is no text encoding: the page's meta decides
            self._send(200, ('<meta charset="shift_jis">' + JAPANESE_PAGE).encode("shift_jis"), "text/html; charset=base64")
        elif url.path == "/encoded/plain.html":
            self._send(200, CAFE_PAGE.encode(), "text/html")
        else:
            self._send(404, b"{}")


CAFE_PAGE = "<ul><li class=r>Café crème</li><li class=r>€ 3,50</li></ul>"
JAPANESE_PAGE = "<ul><li class=r>東京</li><li class=r>大阪</li></ul>"


@pytest.fixture(scope="module")
def source_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture
def open_client(tmp_path):
    settings = make_settings(tmp_path, allowed_source_hosts="127.0.0.1")
    with TestClient(create_app(settings)) as client:
        client.settings = settings
        yield client


def create(client, token, **input_):
    payload = gql(client, CREATE, {"input": input_}, token)["data"]["createPipeline"]
    return payload


def run(client, token, pipeline_id) -> dict:
    started = gql(client, RUN, {"id": pipeline_id}, token)["data"]["runPipeline"]
    assert started["errors"] == [], started
    job = wait_for_job(client, token, started["job"]["id"])
    result = gql(client, PIPELINE, {"id": pipeline_id}, token)["data"]["pipeline"]
    result["job"] = job
    return result


def test_paged_json_api_flattened_into_a_dataset(open_client, source_server):
    client = open_client
    token = register(client)["accessToken"]
    created = create(client, token, name="users", source={"http": {
        "url": f"{source_server}/api/items", "recordsPath": "data.items", "nextPagePath": "next", "maxPages": 10}},
        sink={"dataset": {"name": "users"}})
    assert created["errors"] == []
    result = run(client, token, created["pipeline"]["id"])
    assert result["job"]["status"] == "SUCCEEDED", result["job"]
    assert result["lastRun"]["rowsIn"] == 12 and result["lastRun"]["rowsOut"] == 12 and result["lastRun"]["version"] == 1
    assert [c["name"] for c in result["outputSchema"]] == ["id", "user.name", "user.address.city", "score"]  # the records' own order
    assert result["data"]["rows"][0] == [10, "u10", "Rome", 0.0] and result["data"]["totalRows"] == 12
    assert result["lastRun"]["job"]["kind"] == "PIPELINE"
    stages = [t["stage"] for t in result["job"]["timeline"]]
    assert stages == ["collect", "process", "store"]
    assert sum("Page" in entry["message"] for entry in result["job"]["logs"]) == 4
    again = run(client, token, created["pipeline"]["id"])
    assert again["lastRun"]["version"] == 2 and again["lastRun"]["dataset"]["parent"]["id"] == result["lastRun"]["dataset"]["id"]
    assert again["stats"]["runs"] == 2 and again["stats"]["succeeded"] == 2 and again["stats"]["rowsOut"] == 24
    assert again["stats"]["meanSeconds"] > 0


def test_retries_on_503_and_429_with_retry_after(open_client, source_server):
    client = open_client
    token = register(client)["accessToken"]
    for path in ("/flaky", "/limited"):
        created = create(client, token, name=path, source={"http": {"url": f"{source_server}{path}", "retries": 2}},
                         sink={"parquet": {"name": "out"}})
        result = run(client, token, created["pipeline"]["id"])
        assert result["job"]["status"] == "SUCCEEDED", result["job"]
        warnings = [e["message"] for e in result["job"]["logs"] if e["level"] == "WARNING"]
        assert warnings and ("HTTP 503" in warnings[0] if path == "/flaky" else "HTTP 429; retrying in 1.00 s" in warnings[0])


def test_scrape_with_attributes_and_relative_links(open_client, source_server, ):
    client = open_client
    token = register(client)["accessToken"]
    created = create(client, token, name="shop", source={"scrape": {
        "url": f"{source_server}/shop/list.html", "rowSelector": "li.item",
        "fields": [{"name": "title", "selector": "a"}, {"name": "link", "selector": "a", "attribute": "href"},
                   {"name": "price", "selector": ".price"}, {"name": "image", "selector": "img", "attribute": "src"}]}},
        steps=[{"scale": {"columns": ["price"], "strategy": "MINMAX"}}], sink={"sqlite": {"table": "products"}})
    result = run(client, token, created["pipeline"]["id"])
    assert result["job"]["status"] == "SUCCEEDED", result["job"]
    rows = result["data"]["rows"]
    assert rows[0][:2] == ["Item 1", f"{source_server}/p/1.html"] and rows[0][3] == f"{source_server}/img/1.png"
    assert [r[2] for r in rows] == [0.0, 0.25, 0.5, 0.75, 1.0]  # the step ran on the typed column
    assert {c["name"]: c["semanticType"] for c in result["outputSchema"]}["price"] == "NUMERIC"


def test_scrape_follows_next_page_links(open_client, source_server):
    client = open_client
    token = register(client)["accessToken"]
    fields = [{"name": "cell", "selector": "td"}]
    paged = create(client, token, name="catalog", source={"scrape": {
        "url": f"{source_server}/catalog/page1.html", "rowSelector": "tr.row", "fields": fields,
        "nextPageSelector": "a.next"}}, sink={"parquet": {"name": "catalog"}})
    assert paged["errors"] == [] and paged["pipeline"]["config"]["source"]["scrape"]["nextPageSelector"] == "a.next"
    result = run(client, token, paged["pipeline"]["id"])
    assert result["job"]["status"] == "SUCCEEDED", result["job"]
    assert result["lastRun"]["rowsOut"] == 12  # 4 pages x 3 rows; the last page's "next" is no link
    assert [r[0] for r in result["data"]["rows"]] == ["1-0", "1-1", "1-2", "2-0", "2-1"]
    messages = [e["message"] for e in result["job"]["logs"]]
    assert f"Page 4: 3 row(s) from {source_server}/catalog/page4.html" in messages
    assert "Scraped 12 row(s) from 4 page(s)" in messages

    capped = create(client, token, name="capped", source={"scrape": {
        "url": f"{source_server}/catalog/page1.html", "rowSelector": "tr.row", "fields": fields,
        "nextPageSelector": "a.next", "maxPages": 2}}, sink={"parquet": {"name": "capped"}})
    result = run(client, token, capped["pipeline"]["id"])
    assert result["lastRun"]["rowsOut"] == 6
    assert any("Stopped after 2 page(s) (maxPages); more follow from" in e["message"] for e in result["job"]["logs"])

    looping = create(client, token, name="loop", source={"scrape": {
        "url": f"{source_server}/loop/a.html", "rowSelector": "p.r", "fields": [{"name": "path", "selector": ""}],
        "nextPageSelector": "a[rel=next]"}}, sink={"parquet": {"name": "loop"}})
    result = run(client, token, looping["pipeline"]["id"])
    assert [r[0] for r in result["data"]["rows"]] == ["/loop/a.html", "/loop/b.html"]
    assert any("leads back to" in e["message"] for e in result["job"]["logs"])

    for bad, field in (({"nextPageSelector": "a[["}, "nextPageSelector"), ({"maxPages": 0}, "maxPages")):
        refused = create(client, token, name="bad", source={"scrape": {
            "url": f"{source_server}/catalog/page1.html", "rowSelector": "tr.row", "fields": fields, **bad}},
            sink={"parquet": {"name": "bad"}})
        assert refused["errors"][0]["code"] == "INVALID_INPUT" and refused["errors"][0]["field"][-1] == field


def test_sqlite_replace_and_append_and_parquet_versions(open_client, source_server):
    client = open_client
    token = register(client)["accessToken"]
    user_id = gql(client, "{ me { id } }", token=token)["data"]["me"]["id"]
    source = {"http": {"url": f"{source_server}/api/items", "recordsPath": "data.items"}}
    appender = create(client, token, name="a", source=source, sink={"sqlite": {"table": "items", "mode": "append"}})
    for _ in range(2):
        run(client, token, appender["pipeline"]["id"])
    from schema.common import raw_id
    database = client.settings.resolved_data_dir / "users" / raw_id(user_id, "User") / "pipelines.sqlite"
    with sqlite3.connect(database) as connection:
        assert connection.execute("select count(*) from items").fetchone()[0] == 6
        types = {row[1]: row[2] for row in connection.execute("pragma table_info(items)")}
    assert types == {"id": "INTEGER", "user.name": "TEXT", "user.address.city": "TEXT", "score": "REAL"}
    replacer = create(client, token, name="r", source=source, sink={"sqlite": {"table": "items", "mode": "replace"}})
    run(client, token, replacer["pipeline"]["id"])
    with sqlite3.connect(database) as connection:
        assert connection.execute("select count(*) from items").fetchone()[0] == 3
    versioned = create(client, token, name="p", source=source, sink={"parquet": {"name": "items"}})
    first, second = run(client, token, versioned["pipeline"]["id"]), run(client, token, versioned["pipeline"]["id"])
    assert (first["lastRun"]["version"], second["lastRun"]["version"]) == (1, 2)
    folder = client.settings.resolved_data_dir / "pipelines" / raw_id(versioned["pipeline"]["id"], "Pipeline") / "parquet"
    assert sorted(p.name for p in folder.iterdir()) == ["v1.parquet", "v2.parquet"]
    assert pq.read_table(folder / "v1.parquet").num_rows == 3
    bad = create(client, token, name="x", source=source, sink={"sqlite": {"table": "items; drop table x"}})
    assert bad["errors"][0]["field"] == ["sink", "sqlite", "table"]


def test_dataset_source_update_delete_and_masked_headers(open_client, source_server):
    client = open_client
    token = register(client)["accessToken"]
    dataset = ingest(client, token, b"a,b\n1,x\n2,y\n2,y\n")
    created = create(client, token, name="dedupe", source={"dataset": {"datasetId": dataset["id"]}},
                     steps=[{"dropDuplicates": {}}], sink={"parquet": {"name": "clean"}})
    # `config` is what was given, in the input's own shape: it can be sent back as it is.
    assert created["pipeline"]["config"] == {"source": {"dataset": {"datasetId": dataset["id"]}},
                                             "steps": [{"dropDuplicates": {}}], "sink": {"parquet": {"name": "clean"}}}
    result = run(client, token, created["pipeline"]["id"])
    assert result["lastRun"]["rowsIn"] == 3 and result["lastRun"]["rowsOut"] == 2
    updated = gql(client, """mutation($id: ID!, $source: SourceInput!) { updatePipeline(input: {id: $id, name: "auth",
        source: $source}) { pipeline { name config } errors { code message } } }""",
                  {"id": created["pipeline"]["id"], "source": {"http": {"url": f"{source_server}/auth",
                                                                        "headers": {"authorization": "Bearer sekret-token-123456"}}}},
                  token)["data"]["updatePipeline"]
    assert updated["errors"] == [] and updated["pipeline"]["name"] == "auth"
    assert "sekret" not in json.dumps(updated["pipeline"]["config"])
    assert updated["pipeline"]["config"]["source"]["http"]["headers"]["authorization"].endswith("3456")
    assert updated["pipeline"]["config"]["source"]["http"]["maxPages"] == 100  # defaults appear in the input's names
    assert updated["pipeline"]["config"]["steps"] == [{"dropDuplicates": {}}]  # untouched parts stay as given
    # Sending the echoed config back as it is keeps the secret the mask stands for.
    echoed = updated["pipeline"]["config"]["source"]
    resent = gql(client, """mutation($id: ID!, $source: SourceInput!) { updatePipeline(input: {id: $id, source: $source})
        { pipeline { config } errors { code message } } }""", {"id": created["pipeline"]["id"], "source": echoed},
                 token)["data"]["updatePipeline"]
    assert resent["errors"] == [] and resent["pipeline"]["config"]["source"] == echoed
    after = run(client, token, created["pipeline"]["id"])
    assert after["data"]["rows"] == [[True]]  # the stored (unmasked) header was sent
    configs = [edge["node"]["config"] for edge in after["runs"]["edges"]]
    assert "dataset" in configs[1]["source"] and "http" in configs[0]["source"]  # each run keeps its config
    deleted = gql(client, 'mutation($id: ID!) { deletePipeline(input: {id: $id}) { deletedId errors { code } } }',
                  {"id": created["pipeline"]["id"]}, token)["data"]["deletePipeline"]
    assert deleted["errors"] == [] and gql(client, PIPELINE, {"id": created["pipeline"]["id"]}, token)["data"]["pipeline"] is None


@pytest.mark.parametrize("url", ["http://127.0.0.1:9/x", "http://169.254.169.254/latest/meta-data", "http://10.1.2.3/",
                                 "ftp://example.com/file", "file:///etc/passwd"])
def test_ssrf_refusals_without_the_allow_list(client, token, url):
    payload = create(client, token, name="bad", source={"http": {"url": url}}, sink={"parquet": {"name": "x"}})
    assert payload["pipeline"] is None and payload["errors"][0]["code"] == "INVALID_INPUT"
    assert payload["errors"][0]["field"] == ["source", "http", "url"]


def test_a_redirect_to_a_private_address_fails_the_run(open_client, source_server):
    client = open_client
    token = register(client)["accessToken"]
    created = create(client, token, name="sneaky", source={"http": {"url": f"{source_server}/to-private", "retries": 0}},
                     sink={"parquet": {"name": "x"}})
    assert created["errors"] == []
    result = run(client, token, created["pipeline"]["id"])
    assert result["job"]["status"] == "FAILED" and "10.255.255.1" in result["job"]["error"]
    assert result["lastRun"]["status"] == "FAILED" and result["stats"]["failed"] == 1


def test_pipelines_are_private(open_client, source_server):
    client = open_client
    token = register(client)["accessToken"]
    created = create(client, token, name="mine", source={"http": {"url": f"{source_server}/api/items",
                                                                 "recordsPath": "data.items"}}, sink={"parquet": {"name": "x"}})
    other = register(client)["accessToken"]
    pipeline_id = created["pipeline"]["id"]
    assert gql(client, PIPELINE, {"id": pipeline_id}, other)["data"]["pipeline"] is None
    assert gql(client, "{ pipelines { totalCount } }", token=other)["data"]["pipelines"]["totalCount"] == 0
    assert gql(client, RUN, {"id": pipeline_id}, other)["data"]["runPipeline"]["errors"][0]["code"] == "NOT_FOUND"
    dataset = ingest(client, token, b"a\n1\n")
    stolen = create(client, other, name="steal", source={"dataset": {"datasetId": dataset["id"]}}, sink={"parquet": {"name": "x"}})
    assert stolen["errors"][0]["code"] == "NOT_FOUND"


def test_uneven_records_are_flattened_and_typed_like_an_upload(open_client, source_server):
    client = open_client
    token = register(client)["accessToken"]
    created = create(client, token, name="mixed", source={"http": {"url": f"{source_server}/api/mixed"}},
                     sink={"dataset": {"name": "mixed"}})
    result = run(client, token, created["pipeline"]["id"])
    assert result["job"]["status"] == "SUCCEEDED", result["job"]
    types = {c["name"]: c["semanticType"] for c in result["outputSchema"]}
    assert list(types) == ["id", "tags", "when", "n", "flag", "label", "extra.x"]  # a key seen late still gets a column
    assert types["when"] == "DATETIME" and types["n"] == "NUMERIC"  # text typed as an uploaded CSV would be
    rows = result["data"]["rows"]
    assert rows[0][1] == '["a","b"]' and rows[1][1] is None  # lists stay whole, as JSON
    assert rows[0][3] == 3.5 and rows[1][3] is None  # "NA" is a null token, as in uploads
    assert [r[5] for r in rows] == ["x", None]  # null tokens in text columns too
    assert [r[6] for r in rows] == [None, 1]


def test_a_selector_that_does_not_parse_is_refused_when_saved(open_client, source_server):
    client = open_client
    token = register(client)["accessToken"]
    created = create(client, token, name="bad", source={"scrape": {
        "url": f"{source_server}/shop/list.html", "rowSelector": "li.item",
        "fields": [{"name": "title", "selector": "a["}]}}, sink={"parquet": {"name": "out"}})
    assert created["errors"][0]["code"] == "INVALID_INPUT"
    assert created["errors"][0]["field"] == ["source", "scrape", "fields", "0", "selector"]


def test_an_empty_page_in_the_middle_adds_no_rows_or_columns(open_client, source_server):
    client = open_client
    token = register(client)["accessToken"]
    created = create(client, token, name="gappy", source={"http": {
        "url": f"{source_server}/api/gappy", "recordsPath": "items", "nextPagePath": "next"}}, sink={"dataset": {"name": "g"}})
    result = run(client, token, created["pipeline"]["id"])
    assert result["job"]["status"] == "SUCCEEDED", result["job"]
    assert [c["name"] for c in result["outputSchema"]] == ["id", "name"]
    assert result["data"]["rows"] == [[1, "p1"], [3, "p3"]]


@pytest.mark.parametrize("href", ["/i/1", "/a?b=1#c", "/a/./b", "/a/../b", "/a/b/..", "//cdn.example.com/x", "rel/x",
                                  "../p/1.html", "#top", "?q=1", "http://other.example/x", "/a?next=/./x", "/%7Euser/",
                                  "/a b", "https://example.com/a/../b"])
@pytest.mark.parametrize("page", ["http://example.com/shop/list.html", "https://example.com:8443/a/b?x=1",
                                  "http://example.com"])
def test_links_resolve_exactly_as_urljoin(page, href):
    from urllib.parse import urljoin

    from services.pipelines.scrape import link_resolver
    assert link_resolver(page)(href) == urljoin(page, href)


def _pages_with_awkward_rows() -> list[str]:
    """Pages where rows miss fields, nest inside each other, match a field themselves, or sit beside
    look-alike elements outside any row."""
    import random
    chance = random.Random(7)
    pages = []
    for _ in range(40):
        def cell() -> str:
            kind = chance.choice(["n", "p", "x", ""])
            link = f'<a href="/i/{chance.randint(1, 99)}">l</a>' if chance.random() < 0.5 else ""
            return f'<td class="{kind}"><span class="n">s{chance.randint(1, 9)}</span>{link} t{chance.randint(1, 9)}</td>'

        def row(depth: int) -> str:
            inner = "".join(cell() for _ in range(chance.randint(0, 3)))
            if depth < 2 and chance.random() < 0.3:  # a row with a table of rows inside
                inner += f'<td><table>{"".join(row(depth + 1) for _ in range(chance.randint(1, 3)))}</table></td>'
            return f'<tr class="{chance.choice(["r", "r n", "q"])}">{inner}</tr>'
        outside = '<p class="n">not in a row</p><a href="/outside">o</a>'
        pages.append(f"<html><body>{outside}<table>{''.join(row(0) for _ in range(chance.randint(0, 8)))}</table>"
                     f"{outside}</body></html>")
    return pages


@pytest.mark.parametrize("field_selectors", [
    ["td.n", "td.p", "a"], [".n", "span", "td > a"], ["td.p, td.n", "table td.n", "tr.r ~ tr td"],
    ["tr", "td:first-child", "span.n + a"], ["", "td:nth-child(2) span", "tbody td.x"]])
def test_page_wide_field_selection_equals_asking_each_row(field_selectors):
    """Fields are selected once per page and matched to their rows; the result must be what asking
    each row with css_first gives, nested rows and all."""
    from selectolax.lexbor import LexborHTMLParser

    from services.pipelines.scrape import link_resolver, scraped_columns
    fields = [{"name": f"f{index}", "selector": selector} for index, selector in enumerate(field_selectors)]
    fields.append({"name": "link", "selector": field_selectors[0] or "a", "attribute": "href"})
    page_url = "http://example.com/list/page.html"
    resolve = link_resolver(page_url)
    for row_selector in ("tr.r", "tr", "tr.n, tr.q"):
        for page in _pages_with_awkward_rows():
            document = LexborHTMLParser(page)
            expected = {field["name"]: [] for field in fields}
            rows = document.css(row_selector)
            for row in rows:
                for field in fields:
                    element = row.css_first(field["selector"]) if field["selector"] else row
                    if element is None:
                        value = None
                    elif field.get("attribute"):
                        value = element.attributes.get(field["attribute"])
                        value = resolve(value) if value else value
                    else:
                        value = element.text(separator=" ", strip=True)
                    expected[field["name"]].append(value)
            assert scraped_columns(document, row_selector, fields, page_url) == (len(rows), expected), page


def test_scraped_pages_are_decoded_by_their_declared_charset(open_client, source_server):
    client = open_client
    token = register(client)["accessToken"]
    expected = {"header": ["Café crème", "€ 3,50"], "meta": ["Café crème", "€ 3,50"], "bogus": ["東京", "大阪"],
                "plain": ["Café crème", "€ 3,50"]}
    for name, values in expected.items():
        created = create(client, token, name=name, source={"scrape": {
            "url": f"{source_server}/encoded/{name}.html", "rowSelector": "li.r", "fields": [{"name": "text", "selector": ""}]}},
            sink={"dataset": {"name": name}})
        result = run(client, token, created["pipeline"]["id"])
        assert result["job"]["status"] == "SUCCEEDED", result["job"]
        assert [row[0] for row in result["data"]["rows"]] == values, name


def test_sqlite_upsert_by_key_with_indexes_and_new_columns(open_client, source_server):
    client = open_client
    token = register(client)["accessToken"]
    user_id = gql(client, "{ me { id } }", token=token)["data"]["me"]["id"]
    from schema.common import raw_id
    database = client.settings.resolved_data_dir / "users" / raw_id(user_id, "User") / "pipelines.sqlite"
    sink = {"sqlite": {"table": "catalog", "mode": "upsert", "key": ["sku", "size"], "indexes": [["price"], ["size", "price"]]}}
    created = create(client, token, name="catalog", source={"http": {"url": f"{source_server}/catalog.json?v=1"}}, sink=sink)
    assert created["errors"] == [] and created["pipeline"]["config"]["sink"] == sink
    first = run(client, token, created["pipeline"]["id"])
    assert first["job"]["status"] == "SUCCEEDED", first["job"]

    def update_source(version: int) -> None:
        changed = gql(client, """mutation($id: ID!, $source: SourceInput!) { updatePipeline(input: {id: $id, source: $source})
            { errors { message } } }""", {"id": created["pipeline"]["id"], "source": {"http": {
            "url": f"{source_server}/catalog.json?v={version}"}}}, token)
        assert changed["data"]["updatePipeline"]["errors"] == []
    update_source(2)
    second = run(client, token, created["pipeline"]["id"])
    assert second["job"]["status"] == "SUCCEEDED", second["job"]
    logs = [entry["message"] for entry in second["job"]["logs"]]
    assert any("(1 new, 2 updated; added column(s) stock; 3 rows now)" in m for m in logs), logs
    with sqlite3.connect(database) as connection:
        rows = connection.execute("select sku, size, price, stock from catalog order by sku").fetchall()
        indexes = {row[1]: row[2] for row in connection.execute("pragma index_list(catalog)")}
        primary = [row[1] for row in sorted(connection.execute("pragma table_info(catalog)"), key=lambda r: r[5]) if row[5]]
    # b updated, c inserted once with the last of its two rows, a kept (upsert never deletes)
    assert rows == [("a", 1, 1.5, None), ("b", 1, 2.5, 3), ("c", 2, 8.0, 0)]
    assert primary == ["sku", "size"]
    assert {"ix_catalog__price", "ix_catalog__size__price"} <= set(indexes)
    assert second["data"]["totalRows"] == 3

    update_source(3)  # a row without a key: the run fails and the table is as it was
    third = run(client, token, created["pipeline"]["id"])
    assert third["job"]["status"] == "FAILED" and "no value in the key sku, size" in third["lastRun"]["error"]
    with sqlite3.connect(database) as connection:
        assert connection.execute("select count(*) from catalog").fetchone()[0] == 3


def test_sqlite_sink_settings_are_checked(open_client, source_server):
    client = open_client
    token = register(client)["accessToken"]
    source = {"http": {"url": f"{source_server}/catalog.json?v=1"}}
    refusals = [({"table": "t", "mode": "upsert"}, ["sink", "sqlite", "key"]),
                ({"table": "t", "mode": "append", "key": ["sku"]}, ["sink", "sqlite", "key"]),
                ({"table": "t", "mode": "merge"}, ["sink", "sqlite", "mode"]),
                ({"table": "t", "indexes": [["a", "a"]]}, ["sink", "sqlite", "indexes", "0"]),
                ({"table": "t", "indexes": [[]]}, ["sink", "sqlite", "indexes", "0"])]
    for sqlite_sink, field in refusals:
        refused = create(client, token, name="x", source=source, sink={"sqlite": sqlite_sink})
        assert refused["pipeline"] is None and refused["errors"][0]["field"] == field, (sqlite_sink, refused)
    # a key the output does not have fails the run by name, before anything is written
    unknown = create(client, token, name="y", source=source, sink={"sqlite": {"table": "t", "mode": "upsert", "key": ["id"]}})
    result = run(client, token, unknown["pipeline"]["id"])
    assert result["job"]["status"] == "FAILED" and "The output has no column 'id'" in result["lastRun"]["error"]


def test_a_refused_sqlite_write_rolls_back_its_schema_changes(open_client, source_server):
    client = open_client
    token = register(client)["accessToken"]
    user_id = gql(client, "{ me { id } }", token=token)["data"]["me"]["id"]
    from schema.common import raw_id
    database = client.settings.resolved_data_dir / "users" / raw_id(user_id, "User") / "pipelines.sqlite"
    appender = create(client, token, name="a", source={"http": {"url": f"{source_server}/catalog.json?v=1"}},
                      sink={"sqlite": {"table": "dup", "mode": "append"}})
    for _ in range(2):  # a and b twice each: no key could be unique
        assert run(client, token, appender["pipeline"]["id"])["job"]["status"] == "SUCCEEDED"
    upserter = create(client, token, name="u", source={"http": {"url": f"{source_server}/catalog.json?v=2"}},
                      sink={"sqlite": {"table": "dup", "mode": "upsert", "key": ["sku"]}})
    result = run(client, token, upserter["pipeline"]["id"])
    assert result["job"]["status"] == "FAILED" and "SQLite refused the write to dup" in result["lastRun"]["error"]
    with sqlite3.connect(database) as connection:  # the stock column it added went with the transaction
        assert [row[1] for row in connection.execute("pragma table_info(dup)")] == ["sku", "size", "price"]
        assert connection.execute("select count(*) from dup").fetchone()[0] == 4


CHECKS_RUN = """query($id: ID!) { pipeline(id: $id) { config lastRun { status rowsIn rowsOut error
  checks { column rule expected passed failingRows examples onFail } } data(limit: 10) { rows } } }"""


def test_checks_fail_the_run_with_every_problem_and_store_nothing(open_client, source_server):
    client = open_client
    token = register(client)["accessToken"]
    checks = [{"column": "id", "unique": True, "notNull": True},
              {"column": "amount", "min": 0, "max": 1000},
              {"column": "email", "pattern": "[^@ ]+@[^@ ]+", "onFail": "WARN"},
              {"column": "status", "allowedValues": ["paid", "refunded"]},
              {"column": "amount", "semanticType": "NUMERIC"}, {"minRows": 10}]
    created = create(client, token, name="orders", source={"http": {"url": f"{source_server}/orders.json"}},
                     sink={"dataset": {"name": "orders"}}, checks=checks)
    assert created["errors"] == [], created
    pipeline_id = created["pipeline"]["id"]
    result = run(client, token, pipeline_id)
    assert result["job"]["status"] == "FAILED"
    shown = gql(client, CHECKS_RUN, {"id": pipeline_id}, token)["data"]["pipeline"]
    by_rule = {(c["column"], c["rule"]): c for c in shown["lastRun"]["checks"]}
    assert [(c["column"], c["rule"]) for c in shown["lastRun"]["checks"]] == [
        ("id", "NOT_NULL"), ("id", "UNIQUE"), ("amount", "MIN"), ("amount", "MAX"), ("email", "PATTERN"),
        ("status", "ALLOWED_VALUES"), ("amount", "SEMANTIC_TYPE"), (None, "MIN_ROWS")]
    assert by_rule[("id", "NOT_NULL")]["passed"] is True
    assert by_rule[("id", "UNIQUE")] | {} == {"column": "id", "rule": "UNIQUE", "expected": "no repeated values",
                                             "passed": False, "failingRows": 1, "examples": [2], "onFail": "FAIL_RUN"}
    assert by_rule[("amount", "MIN")]["examples"] == [-5.0] and by_rule[("amount", "MAX")]["examples"] == [1000000.0]
    assert by_rule[("email", "PATTERN")]["failingRows"] == 1 and by_rule[("email", "PATTERN")]["onFail"] == "WARN"
    assert by_rule[("status", "ALLOWED_VALUES")]["examples"] == ["lost"]
    assert by_rule[("amount", "SEMANTIC_TYPE")]["passed"] is True
    assert by_rule[(None, "MIN_ROWS")] | {} == {"column": None, "rule": "MIN_ROWS", "expected": "at least 10 rows",
                                                "passed": False, "failingRows": 0, "examples": [4], "onFail": "FAIL_RUN"}
    error = shown["lastRun"]["error"]
    assert error.startswith("5 check(s) failed, so nothing was stored") and "amount: 1 row(s) not >= 0 (e.g. -5.0)" in error
    assert shown["data"] is None  # no output was written
    logs = [e["message"] for e in result["job"]["logs"]]
    assert any("Check failed: email: 1 row(s) not matches" in m and "warning only" in m for m in logs)
    assert [t["stage"] for t in result["job"]["timeline"]] == ["collect", "process", "validate"]
    # the checks are echoed as given, and can be replaced
    assert shown["config"]["checks"][1] == {"column": "amount", "min": 0.0, "max": 1000.0, "onFail": "FAIL_RUN"}


def test_drop_rows_and_warn_checks_let_the_run_store_what_passes(open_client, source_server):
    client = open_client
    token = register(client)["accessToken"]
    created = create(client, token, name="orders", source={"http": {"url": f"{source_server}/orders.json"}},
                     sink={"parquet": {"name": "orders"}},
                     checks=[{"column": "amount", "min": 0, "onFail": "DROP_ROWS"},
                             {"column": "email", "notNull": True, "onFail": "DROP_ROWS"},
                             {"column": "id", "unique": True, "onFail": "WARN"}])
    result = run(client, token, created["pipeline"]["id"])
    assert result["job"]["status"] == "SUCCEEDED", result["job"]
    shown = gql(client, CHECKS_RUN, {"id": created["pipeline"]["id"]}, token)["data"]["pipeline"]
    assert shown["lastRun"]["rowsIn"] == 4 and shown["lastRun"]["rowsOut"] == 2
    assert [row[0] for row in shown["data"]["rows"]] == [1, 4]
    assert [c["passed"] for c in shown["lastRun"]["checks"]] == [False, False, False]
    assert any("Dropped 2 row(s) failing DROP_ROWS checks; 2 remain" in e["message"] for e in result["job"]["logs"])
    # removing the checks: the next run keeps every row
    removed = gql(client, """mutation($id: ID!) { updatePipeline(input: {id: $id, checks: []}) { pipeline { config }
        errors { message } } }""", {"id": created["pipeline"]["id"]}, token)["data"]["updatePipeline"]
    assert removed["errors"] == [] and removed["pipeline"]["config"]["checks"] == []
    again = run(client, token, created["pipeline"]["id"])
    assert again["lastRun"]["rowsOut"] == 4 and again["lastRun"]["status"] == "SUCCEEDED"


@pytest.mark.parametrize("check, field", [
    ({"notNull": True}, ["checks", "0", "column"]),
    ({"column": "a"}, ["checks", "0"]),
    ({"column": "a", "notNull": False}, ["checks", "0"]),
    ({"column": "a", "min": 5, "max": 1}, ["checks", "0", "min"]),
    ({"column": "a", "pattern": "(unclosed"}, ["checks", "0", "pattern"]),
    ({"column": "a", "semanticType": "NUMERIC", "onFail": "DROP_ROWS"}, ["checks", "0", "onFail"]),
    ({"minRows": -1}, ["checks", "0", "minRows"]),
    ({"column": "a", "allowedValues": []}, ["checks", "0", "allowedValues"])])
def test_checks_that_could_never_run_are_refused_when_saved(open_client, source_server, check, field):
    client = open_client
    token = register(client)["accessToken"]
    refused = create(client, token, name="x", source={"http": {"url": f"{source_server}/orders.json"}},
                     sink={"dataset": {"name": "x"}}, checks=[check])
    assert refused["pipeline"] is None and refused["errors"][0]["field"] == field, refused


def test_a_check_on_a_missing_column_fails_the_run_by_name(open_client, source_server):
    client = open_client
    token = register(client)["accessToken"]
    created = create(client, token, name="x", source={"http": {"url": f"{source_server}/orders.json"}},
                     sink={"dataset": {"name": "x"}}, checks=[{"column": "price", "min": 0, "onFail": "DROP_ROWS"}])
    run(client, token, created["pipeline"]["id"])
    shown = gql(client, CHECKS_RUN, {"id": created["pipeline"]["id"]}, token)["data"]["pipeline"]["lastRun"]
    assert shown["status"] == "FAILED" and "price: expected the column exists" in shown["error"]
    assert shown["checks"][0]["rule"] == "COLUMN_EXISTS" and shown["checks"][0]["onFail"] == "FAIL_RUN"


def test_stored_configs_echo_the_shape_they_were_given_in(open_client, source_server):
    """`config` is rebuilt from the typed, stored form in the shape the client gave it, with the client's
    own keys (headers, params, column names) untouched. (Rows stored before the typed form: test_migrations.)"""
    client = open_client
    token = register(client)["accessToken"]
    dataset = ingest(client, token, b"a_b,c\n1,x\n,y\n")
    inputs = [
        {"source": {"http": {"url": f"{source_server}/api/items", "recordsPath": "data.items", "nextPagePath": "next",
                             "maxPages": 3, "headers": {"X-Api_Key": "sekret-token-123456"},
                             "params": {"page_size": 50}, "timeoutSeconds": 5}},
         "sink": {"sqlite": {"table": "t", "mode": "upsert", "key": ["id"], "indexes": [["score"]]}}},
        {"source": {"scrape": {"url": f"{source_server}/catalog/page1.html", "rowSelector": "tr.row",
                               "nextPageSelector": "a.next", "fields": [{"name": "cell_text", "selector": "td"},
                                                                        {"name": "link", "selector": "a", "attribute": "href"}]}},
         "sink": {"parquet": {"name": "p"}}, "checks": [{"column": "cell_text", "notNull": True, "onFail": "DROP_ROWS"}]},
        {"source": {"dataset": {"datasetId": dataset["id"]}},
         "steps": [{"impute": {"columns": ["a_b"], "strategy": "MEDIAN"}}, {"renameColumns": {"mapping": {"a_b": "ab_c"}}}],
         "sink": {"dataset": {"name": "d"}}}]
    for given in inputs:
        created = create(client, token, name="old", **given)
        assert created["errors"] == [], created
        pipeline_id = created["pipeline"]["id"]
        shown = gql(client, "query($id: ID!) { pipeline(id: $id) { config } }", {"id": pipeline_id}, token)
        assert shown["data"]["pipeline"]["config"] == created["pipeline"]["config"]


def test_http_sources_that_answer_csv_are_read_as_uploads_are(open_client, source_server):
    client = open_client
    token = register(client)["accessToken"]
    cases = [({"url": f"{source_server}/exports/prices.csv"}, ["Datum", "Artikel", "Preis"], [["2024-01-05T00:00:00", "Äpfel", 1.25]]),
             ({"url": f"{source_server}/raw/prices.csv.gz"}, ["sku", "qty"], [["a", 1]]),
             ({"url": f"{source_server}/download", "format": "CSV"}, ["id", "when"], [[1, "2024-01-05"]])]
    for source, columns, first_rows in cases:
        created = create(client, token, name="csv", source={"http": source}, sink={"dataset": {"name": "csv"}},
                         checks=[{"minRows": 2}])
        assert created["errors"] == [], created
        result = run(client, token, created["pipeline"]["id"])
        assert result["job"]["status"] == "SUCCEEDED", result["job"]
        assert [c["name"] for c in result["outputSchema"]] == columns
        assert result["data"]["rows"][:1] == first_rows
        assert any(e["message"].startswith("CSV from ") for e in result["job"]["logs"])
    types = {c["name"]: c["semanticType"] for c in result["outputSchema"]}
    assert types["when"] == "DATETIME"
    # without format: CSV, a text/plain reply is JSON, and this one is not
    plain = create(client, token, name="plain", source={"http": {"url": f"{source_server}/download"}}, sink={"dataset": {"name": "p"}})
    failed = run(client, token, plain["pipeline"]["id"])
    assert failed["job"]["status"] == "FAILED" and "did not answer JSON" in failed["lastRun"]["error"]
    refused = create(client, token, name="x", source={"http": {"url": f"{source_server}/download", "format": "CSV",
                                                                "recordsPath": "items"}}, sink={"dataset": {"name": "x"}})
    assert refused["errors"][0]["field"] == ["source", "http", "recordsPath"]


def test_each_run_keeps_its_own_output_readable(open_client, source_server):
    client = open_client
    token = register(client)["accessToken"]
    for sink in ({"parquet": {"name": "catalog"}}, {"dataset": {"name": "catalog"}}):
        created = create(client, token, name="catalog", source={"http": {"url": f"{source_server}/catalog.json?v=1"}},
                         sink=sink)
        pipeline_id = created["pipeline"]["id"]
        run(client, token, pipeline_id)
        gql(client, """mutation($id: ID!, $source: SourceInput!) { updatePipeline(input: {id: $id, source: $source})
            { errors { message } } }""", {"id": pipeline_id, "source": {"http": {"url": f"{source_server}/catalog.json?v=2"}}},
            token)
        run(client, token, pipeline_id)
        runs = gql(client, """query($id: ID!) { pipeline(id: $id) { runs { edges { node { version
            data(limit: 10) { columns rows totalRows } } } } } }""", {"id": pipeline_id}, token)["data"]["pipeline"]["runs"]
        by_version = {edge["node"]["version"]: edge["node"]["data"] for edge in runs["edges"]}
        assert [row[0] for row in by_version[1]["rows"]] == ["a", "b"] and "stock" not in by_version[1]["columns"]
        assert [row[0] for row in by_version[2]["rows"]] == ["b", "c", "c"] and by_version[2]["totalRows"] == 3
    other = register(client, email="other@example.com")["accessToken"]
    assert gql(client, "query($id: ID!) { pipeline(id: $id) { runs { edges { node { data { rows } } } } } }",
               {"id": pipeline_id}, other)["data"]["pipeline"] is None


def test_scrape_headers_masking_user_agent_and_polite_delay(open_client, source_server):
    client = open_client
    token = register(client)["accessToken"]
    Handler.seen.clear()
    source = {"scrape": {"url": f"{source_server}/members.html", "rowSelector": "p.m", "nextPageSelector": "a.next",
                         "fields": [{"name": "who", "selector": ""}], "delaySeconds": 0.3,
                         "headers": {"Cookie": "session=members-only-cookie", "User-Agent": "my-research-bot/1.0"}}}
    created = create(client, token, name="members", source=source, sink={"dataset": {"name": "m"}})
    assert created["errors"] == [], created
    shown = created["pipeline"]["config"]["source"]["scrape"]["headers"]
    assert shown == {"Cookie": "••••••••okie", "User-Agent": "••••••••/1.0"}
    result = run(client, token, created["pipeline"]["id"])
    assert result["job"]["status"] == "SUCCEEDED", result["job"]
    assert [row[0] for row in result["data"]["rows"]] == ["member 1", "member 2", "member 3"]
    times = [when for when, _, _ in Handler.seen]
    assert len(times) == 3 and times[1] - times[0] >= 0.3 and times[2] - times[1] >= 0.3
    assert {agent for _, agent, _ in Handler.seen} == {"my-research-bot/1.0"}
    # the echoed (masked) config sent back keeps the cookie
    echoed = created["pipeline"]["config"]["source"]
    updated = gql(client, """mutation($id: ID!, $source: SourceInput!) { updatePipeline(input: {id: $id, source: $source})
        { errors { message } } }""", {"id": created["pipeline"]["id"], "source": echoed}, token)
    assert updated["data"]["updatePipeline"]["errors"] == []
    assert run(client, token, created["pipeline"]["id"])["job"]["status"] == "SUCCEEDED"
    # without a User-Agent of its own, a source says who is asking
    Handler.seen.clear()
    plain = create(client, token, name="who", source={"http": {"url": f"{source_server}/who.json"}}, sink={"dataset": {"name": "w"}})
    run(client, token, plain["pipeline"]["id"])
    assert Handler.seen[0][1] == "Assay data pipeline (httpx)"
    refused = create(client, token, name="x", source={"scrape": {**source["scrape"], "delaySeconds": 61}},
                     sink={"dataset": {"name": "x"}})
    assert refused["errors"][0]["field"] == ["source", "scrape", "delaySeconds"]


def test_a_second_run_while_one_is_active_is_a_conflict(open_client, source_server):
    client = open_client
    token = register(client)["accessToken"]
    slow = create(client, token, name="slow", source={"scrape": {
        "url": f"{source_server}/members.html", "rowSelector": "p.m", "nextPageSelector": "a.next", "delaySeconds": 0.5,
        "fields": [{"name": "who", "selector": ""}], "headers": {"Cookie": "session=members-only-cookie"}}},
        sink={"parquet": {"name": "m"}})
    first = gql(client, RUN, {"id": slow["pipeline"]["id"]}, token)["data"]["runPipeline"]
    assert first["errors"] == []
    second = gql(client, RUN, {"id": slow["pipeline"]["id"]}, token)["data"]["runPipeline"]
    assert second["run"] is None and second["errors"][0]["code"] == "CONFLICT"
    wait_for_job(client, token, first["job"]["id"])
    third = run(client, token, slow["pipeline"]["id"])
    assert third["job"]["status"] == "SUCCEEDED" and third["lastRun"]["version"] == 2


def test_updated_at_moves_when_the_pipeline_changes(open_client, source_server):
    client = open_client
    token = register(client)["accessToken"]
    created = create(client, token, name="t", source={"http": {"url": f"{source_server}/who.json"}}, sink={"dataset": {"name": "t"}})
    query = "query($id: ID!) { pipeline(id: $id) { createdAt updatedAt } }"
    before = gql(client, query, {"id": created["pipeline"]["id"]}, token)["data"]["pipeline"]
    assert before["updatedAt"] >= before["createdAt"]
    time.sleep(0.01)
    gql(client, 'mutation($id: ID!) { updatePipeline(input: {id: $id, name: "renamed"}) { errors { message } } }',
        {"id": created["pipeline"]["id"]}, token)
    after = gql(client, query, {"id": created["pipeline"]["id"]}, token)["data"]["pipeline"]
    assert after["createdAt"] == before["createdAt"] and after["updatedAt"] > before["updatedAt"]


@pytest.fixture
def scheduling_client(tmp_path):
    settings = make_settings(tmp_path, allowed_source_hosts="127.0.0.1", min_schedule_seconds=1, scheduler_tick_seconds=0.1)
    with TestClient(create_app(settings)) as client:
        client.settings = settings
        yield client


SCHEDULED = """query($id: ID!) { pipeline(id: $id) { schedule { intervalSeconds paused nextRunAt }
  runs(first: 50) { edges { node { status trigger } } } } }"""


def test_scheduled_pipelines_run_on_their_own_until_paused_or_unscheduled(scheduling_client, source_server):
    client = scheduling_client
    token = register(client)["accessToken"]
    created = create(client, token, name="every second", source={"http": {"url": f"{source_server}/who.json"}},
                     sink={"parquet": {"name": "who"}}, schedule={"intervalSeconds": 1})
    assert created["errors"] == [], created
    pipeline_id = created["pipeline"]["id"]
    shown = gql(client, SCHEDULED, {"id": pipeline_id}, token)["data"]["pipeline"]
    assert shown["schedule"]["intervalSeconds"] == 1 and shown["schedule"]["paused"] is False
    assert shown["schedule"]["nextRunAt"] is not None

    def runs() -> list[dict]:
        return [e["node"] for e in gql(client, SCHEDULED, {"id": pipeline_id}, token)["data"]["pipeline"]["runs"]["edges"]]
    deadline = time.monotonic() + 20
    while sum(r["status"] == "SUCCEEDED" for r in runs()) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert sum(r["status"] == "SUCCEEDED" for r in runs()) >= 2
    assert {r["trigger"] for r in runs()} == {"SCHEDULE"}

    paused = gql(client, """mutation($id: ID!) { updatePipeline(input: {id: $id, schedule: {intervalSeconds: 1, paused: true}})
        { pipeline { schedule { paused nextRunAt } } errors { message } } }""", {"id": pipeline_id}, token)
    assert paused["data"]["updatePipeline"]["pipeline"]["schedule"] == {"paused": True, "nextRunAt": None}
    time.sleep(0.5)  # a run started just before the pause may still finish
    settled = len(runs())
    time.sleep(2.5)
    assert len(runs()) == settled  # nothing started while paused

    manual = run(client, token, pipeline_id)
    assert manual["runs"]["edges"][0]["node"]["status"] == "SUCCEEDED"
    assert runs()[0]["trigger"] == "MANUAL"
    removed = gql(client, """mutation($id: ID!) { updatePipeline(input: {id: $id, schedule: null})
        { pipeline { schedule { paused } } errors { message } } }""", {"id": pipeline_id}, token)
    assert removed["data"]["updatePipeline"]["pipeline"]["schedule"] is None
    too_often = create(client, token, name="x", source={"http": {"url": f"{source_server}/who.json"}},
                       sink={"parquet": {"name": "x"}}, schedule={"intervalSeconds": 0})
    assert too_often["errors"][0]["field"] == ["schedule", "intervalSeconds"]


def test_two_schedulers_start_a_due_pipeline_once(open_client, source_server):
    """Replicas each run the scheduler: the compare-and-set claim lets only one of them start the run."""
    import asyncio
    from datetime import timedelta

    from resolvers.pipelines import pipeline_limits
    from services.pipelines.service import run_due_pipelines
    from services.storage.tables import utcnow
    client = open_client
    token = register(client)["accessToken"]
    created = create(client, token, name="due", source={"http": {"url": f"{source_server}/who.json"}},
                     sink={"parquet": {"name": "due"}}, schedule={"intervalSeconds": 60})
    state = client.app.state.assay
    later = utcnow() + timedelta(seconds=61)

    async def both() -> list[int]:
        return list(await asyncio.gather(*(run_due_pipelines(state.sessions, jobs=state.jobs, data_dir=client.settings.resolved_data_dir,
                                                             limits=pipeline_limits(client.settings), now=later)
                                           for _ in range(2))))
    assert sorted(client.portal.call(both)) == [0, 1]
    shown = gql(client, SCHEDULED, {"id": created["pipeline"]["id"]}, token)["data"]["pipeline"]
    assert len(shown["runs"]["edges"]) == 1 and shown["runs"]["edges"][0]["node"]["trigger"] == "SCHEDULE"


@pytest.mark.parametrize("paging", [
    {"url": "/paged/numbers", "params": {"per_page": 2}, "pageParam": "page", "recordsPath": "items"},
    {"url": "/paged/numbers", "params": {"per_page": 2}, "pageParam": "page", "firstPage": 2, "recordsPath": "items"},
    {"url": "/paged/offsets", "offsetParam": "offset"},
    {"url": "/paged/cursor", "params": {"token": "t1"}, "cursorPath": "meta.next", "cursorParam": "after",
     "recordsPath": "data"}])
def test_numbered_offset_and_cursor_paging(open_client, source_server, paging):
    client = open_client
    token = register(client)["accessToken"]
    created = create(client, token, name="paged", source={"http": {**paging, "url": f"{source_server}{paging['url']}"}},
                     sink={"dataset": {"name": "paged"}})
    assert created["errors"] == [], created
    result = run(client, token, created["pipeline"]["id"])
    assert result["job"]["status"] == "SUCCEEDED", result["job"]
    expected = [3, 4, 5] if paging.get("firstPage") == 2 else [1, 2, 3, 4, 5]
    assert [row[0] for row in result["data"]["rows"]] == expected
    pages = sum(entry["message"].startswith("Page ") for entry in result["job"]["logs"])
    assert pages == {"pageParam": 4 if not paging.get("firstPage") else 3, "offsetParam": 4,
                     "cursorParam": 3}[next(k for k in ("pageParam", "offsetParam", "cursorParam") if k in paging)]


@pytest.mark.parametrize("http, field", [
    ({"nextPagePath": "next", "pageParam": "page"}, ["source", "http"]),
    ({"cursorPath": "meta.next"}, ["source", "http", "cursorParam"]),
    ({"cursorParam": "after"}, ["source", "http", "cursorPath"]),
    ({"firstPage": 0}, ["source", "http", "firstPage"]),
    ({"format": "CSV", "pageParam": "page"}, ["source", "http", "pageParam"])])
def test_paging_settings_are_checked(open_client, source_server, http, field):
    client = open_client
    token = register(client)["accessToken"]
    refused = create(client, token, name="x", source={"http": {"url": f"{source_server}/paged/numbers", **http}},
                     sink={"dataset": {"name": "x"}})
    assert refused["pipeline"] is None and refused["errors"][0]["field"] == field, refused


PREVIEW = """mutation($input: PreviewSourceInput!) { previewSource(input: $input) {
  preview { columns { name semanticType dtype } rows { columns rows totalRows } log } errors { code message field } } }"""


def test_preview_shows_a_sources_first_page_typed_and_stores_nothing(open_client, source_server, tmp_path):
    client = open_client
    token = register(client)["accessToken"]
    scraped = gql(client, PREVIEW, {"input": {"rows": 2, "source": {"scrape": {
        "url": f"{source_server}/shop/list.html", "rowSelector": "li.item",
        "fields": [{"name": "title", "selector": "a"}, {"name": "price", "selector": ".price"},
                   {"name": "link", "selector": "a", "attribute": "href"}]}}}}, token)["data"]["previewSource"]
    assert scraped["errors"] == []
    preview = scraped["preview"]
    assert {c["name"]: c["semanticType"] for c in preview["columns"]}["price"] == "NUMERIC"
    assert preview["rows"]["rows"] == [["Item 1", 2.5, f"{source_server}/p/1.html"], ["Item 2", 4.5, f"{source_server}/p/2.html"]]
    assert preview["rows"]["totalRows"] == 5 and any("Page 1: 5 row(s)" in line for line in preview["log"])
    paged = gql(client, PREVIEW, {"input": {"source": {"http": {"url": f"{source_server}/api/items", "recordsPath": "data.items",
                                                                "nextPagePath": "next"}},
                                            "steps": [{"dropColumns": {"columns": ["score"]}}]}}, token)["data"]["previewSource"]
    assert paged["preview"]["rows"]["totalRows"] == 3  # the first page only
    assert paged["preview"]["rows"]["columns"] == ["id", "user.name", "user.address.city"]
    wrong_path = gql(client, PREVIEW, {"input": {"source": {"http": {"url": f"{source_server}/api/items",
                                                                     "recordsPath": "data.nothing"}}}}, token)
    assert wrong_path["data"]["previewSource"]["errors"][0]["code"] == "PARSE_ERROR"
    # a dataset of someone else's is not found; nothing was saved by any preview
    other = register(client)["accessToken"]
    theirs = ingest(client, other, b"a,b\n1,2\n")
    refused = gql(client, PREVIEW, {"input": {"source": {"dataset": {"datasetId": theirs["id"]}}}}, token)
    assert refused["data"]["previewSource"]["errors"][0]["code"] == "NOT_FOUND"
    mine = ingest(client, token, b"a,b\n1,x\n2,y\n")
    own = gql(client, PREVIEW, {"input": {"source": {"dataset": {"datasetId": mine["id"]}}, "rows": 1}}, token)
    assert own["data"]["previewSource"]["preview"]["rows"]["rows"] == [[1, "x"]]
    assert gql(client, "{ pipelines { totalCount } }", token=token)["data"]["pipelines"]["totalCount"] == 0


def test_preview_refuses_internal_addresses(client, token, source_server):
    refused = gql(client, PREVIEW, {"input": {"source": {"http": {"url": f"{source_server}/api/items"}}}}, token)
    assert refused["data"]["previewSource"]["errors"][0]["code"] == "INVALID_INPUT"


def test_connections_go_only_to_addresses_vetted_when_connecting(source_server):
    """The SSRF check is enforced where the socket is opened, on the address actually connected to,
    so a DNS answer that changes between the check and the connection (rebinding) cannot reach an
    internal address."""
    from services.errors import ServiceError
    from services.pipelines.fetch import pinned_client
    port = int(source_server.rsplit(":", 1)[1])
    with pinned_client([], ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)) as client:
        with pytest.raises(ServiceError) as refused:
            client.get(f"http://127.0.0.1:{port}/who.json")  # no check_url first: the connection itself refuses
    assert refused.value.code == "INVALID_INPUT" and "non-public address" in refused.value.message
    # a host allowed by name: each of its addresses is vetted and tried in turn (::1 has no listener here)
    with pinned_client(["localhost"], ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)) as client:
        answer = client.get(f"http://localhost:{port}/who.json")
    assert answer.status_code == 200 and answer.json() == [{"a": 1}]
