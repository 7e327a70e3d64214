"""Sources: HTTP JSON and CSV collected page by page (links, numbers, offsets, cursors), retries, and preview.

The sources are local: tests/pipelines/fake_sources.py, served by the source_server fixture."""

from __future__ import annotations

import pytest

from tests.pipelines.fake_sources import items_api, shop_scrape
from tests.pipelines.operations import PREVIEW
from tests.support.graphql import ingest, register

pytestmark = pytest.mark.one_database(reason="collecting from HTTP sources")


def test_paged_json_api_flattened_into_a_dataset(author, source_server):
    result = author.create_and_run(
        name="users",
        source=items_api(source_server, maxPages=10),
        sink={"dataset": {"name": "users"}},
    )
    assert result["job"]["status"] == "SUCCEEDED", result["job"]
    assert (
        result["lastRun"]["rowsIn"] == 12 and result["lastRun"]["rowsOut"] == 12 and result["lastRun"]["version"] == 1
    )
    assert [c["name"] for c in result["outputSchema"]] == [
        "id",
        "user.name",
        "user.address.city",
        "score",
    ]  # the records' own order
    assert result["data"]["rows"][0] == [10, "u10", "Rome", 0.0] and result["data"]["totalRows"] == 12
    assert result["lastRun"]["job"]["kind"] == "PIPELINE"
    stages = [t["stage"] for t in result["job"]["timeline"]]
    assert stages == ["collect", "process", "store"]
    assert sum("Page" in entry["message"] for entry in result["job"]["logs"]) == 4
    again = author.run(result["id"])
    assert (
        again["lastRun"]["version"] == 2
        and again["lastRun"]["dataset"]["parent"]["id"] == result["lastRun"]["dataset"]["id"]
    )
    assert again["stats"]["runs"] == 2 and again["stats"]["succeeded"] == 2 and again["stats"]["rowsOut"] == 24
    assert again["stats"]["meanSeconds"] > 0


def test_retries_on_503_and_429_with_retry_after(author, source_server):
    for path in ("/flaky", "/limited"):
        result = author.create_and_run(
            name=path,
            source={"http": {"url": f"{source_server}{path}", "retries": 2}},
            sink={"parquet": {"name": "out"}},
        )
        assert result["job"]["status"] == "SUCCEEDED", result["job"]
        warnings = [e["message"] for e in result["job"]["logs"] if e["level"] == "WARNING"]
        assert warnings and (
            "HTTP 503" in warnings[0] if path == "/flaky" else "HTTP 429; retrying in 1.00 s" in warnings[0]
        )


def test_uneven_records_are_flattened_and_typed_like_an_upload(author, source_server):
    result = author.create_and_run(
        name="mixed",
        source={"http": {"url": f"{source_server}/api/mixed"}},
        sink={"dataset": {"name": "mixed"}},
    )
    assert result["job"]["status"] == "SUCCEEDED", result["job"]
    types = {c["name"]: c["semanticType"] for c in result["outputSchema"]}
    assert list(types) == ["id", "tags", "when", "n", "flag", "label", "extra.x"]  # a key seen late still gets a column
    assert types["when"] == "DATETIME" and types["n"] == "NUMERIC"  # text typed as an uploaded CSV would be
    rows = result["data"]["rows"]
    assert rows[0][1] == '["a","b"]' and rows[1][1] is None  # lists stay whole, as JSON
    assert rows[0][3] == 3.5 and rows[1][3] is None  # "NA" is a null token, as in uploads
    assert [r[5] for r in rows] == ["x", None]  # null tokens in text columns too
    assert [r[6] for r in rows] == [None, 1]


def test_an_empty_page_in_the_middle_adds_no_rows_or_columns(author, source_server):
    result = author.create_and_run(
        name="gappy",
        source={"http": {"url": f"{source_server}/api/gappy", "recordsPath": "items", "nextPagePath": "next"}},
        sink={"dataset": {"name": "g"}},
    )
    assert result["job"]["status"] == "SUCCEEDED", result["job"]
    assert [c["name"] for c in result["outputSchema"]] == ["id", "name"]
    assert result["data"]["rows"] == [[1, "p1"], [3, "p3"]]


def test_http_sources_that_answer_csv_are_read_as_uploads_are(author, source_server):
    cases = [
        (
            {"url": f"{source_server}/exports/prices.csv"},
            ["Datum", "Artikel", "Preis"],
            [["2024-01-05T00:00:00", "Äpfel", 1.25]],
        ),
        ({"url": f"{source_server}/raw/prices.csv.gz"}, ["sku", "qty"], [["a", 1]]),
        ({"url": f"{source_server}/download", "format": "CSV"}, ["id", "when"], [[1, "2024-01-05"]]),
    ]
    for source, columns, first_rows in cases:
        result = author.create_and_run(
            name="csv",
            source={"http": source},
            sink={"dataset": {"name": "csv"}},
            checks=[{"minRows": 2}],
        )
        assert result["job"]["status"] == "SUCCEEDED", result["job"]
        assert [c["name"] for c in result["outputSchema"]] == columns
        assert result["data"]["rows"][:1] == first_rows
        assert any(e["message"].startswith("CSV from ") for e in result["job"]["logs"])
    types = {c["name"]: c["semanticType"] for c in result["outputSchema"]}
    assert types["when"] == "DATETIME"
    # without format: CSV, a text/plain reply is JSON, and this one is not
    failed = author.create_and_run(
        name="plain",
        source={"http": {"url": f"{source_server}/download"}},
        sink={"dataset": {"name": "p"}},
    )
    assert failed["job"]["status"] == "FAILED" and "did not answer JSON" in failed["lastRun"]["error"]
    refused = author.refusal(
        name="x",
        source={"http": {"url": f"{source_server}/download", "format": "CSV", "recordsPath": "items"}},
        sink={"dataset": {"name": "x"}},
    )
    assert refused["field"] == ["source", "http", "recordsPath"]


@pytest.mark.parametrize(
    "paging",
    [
        {"url": "/paged/numbers", "params": {"per_page": 2}, "pageParam": "page", "recordsPath": "items"},
        {
            "url": "/paged/numbers",
            "params": {"per_page": 2},
            "pageParam": "page",
            "firstPage": 2,
            "recordsPath": "items",
        },
        {"url": "/paged/offsets", "offsetParam": "offset"},
        {
            "url": "/paged/cursor",
            "params": {"token": "t1"},
            "cursorPath": "meta.next",
            "cursorParam": "after",
            "recordsPath": "data",
        },
    ],
)
def test_numbered_offset_and_cursor_paging(author, source_server, paging):
    result = author.create_and_run(
        name="paged",
        source={"http": {**paging, "url": f"{source_server}{paging['url']}"}},
        sink={"dataset": {"name": "paged"}},
    )
    assert result["job"]["status"] == "SUCCEEDED", result["job"]
    expected = [3, 4, 5] if paging.get("firstPage") == 2 else [1, 2, 3, 4, 5]
    assert [row[0] for row in result["data"]["rows"]] == expected
    pages = sum(entry["message"].startswith("Page ") for entry in result["job"]["logs"])
    assert (
        pages
        == {"pageParam": 4 if not paging.get("firstPage") else 3, "offsetParam": 4, "cursorParam": 3}[
            next(k for k in ("pageParam", "offsetParam", "cursorParam") if k in paging)
        ]
    )


@pytest.mark.parametrize(
    ("http", "field"),
    [
        ({"nextPagePath": "next", "pageParam": "page"}, ["source", "http"]),
        ({"cursorPath": "meta.next"}, ["source", "http", "cursorParam"]),
        ({"cursorParam": "after"}, ["source", "http", "cursorPath"]),
        ({"firstPage": 0}, ["source", "http", "firstPage"]),
        ({"format": "CSV", "pageParam": "page"}, ["source", "http", "pageParam"]),
    ],
)
def test_paging_settings_are_checked(author, source_server, http, field):
    refused = author.refusal(
        name="x",
        source={"http": {"url": f"{source_server}/paged/numbers", **http}},
        sink={"dataset": {"name": "x"}},
    )
    assert refused["field"] == field, refused


def test_preview_shows_a_sources_first_page_typed_and_stores_nothing(author, source_server, tmp_path):
    scraped = author.gql(
        PREVIEW,
        {
            "input": {
                "rows": 2,
                "source": shop_scrape(
                    source_server,
                    [
                        {"name": "title", "selector": "a"},
                        {"name": "price", "selector": ".price"},
                        {"name": "link", "selector": "a", "attribute": "href"},
                    ],
                ),
            }
        },
    )["data"]["previewSource"]
    assert scraped["errors"] == []
    preview = scraped["preview"]
    assert {c["name"]: c["semanticType"] for c in preview["columns"]}["price"] == "NUMERIC"
    assert preview["rows"]["rows"] == [
        ["Item 1", 2.5, f"{source_server}/p/1.html"],
        ["Item 2", 4.5, f"{source_server}/p/2.html"],
    ]
    assert preview["rows"]["totalRows"] == 5 and any("Page 1: 5 row(s)" in line for line in preview["log"])
    paged = author.gql(
        PREVIEW,
        {
            "input": {
                "source": items_api(source_server),
                "steps": [{"dropColumns": {"columns": ["score"]}}],
            }
        },
    )["data"]["previewSource"]
    assert paged["preview"]["rows"]["totalRows"] == 3  # the first page only
    assert paged["preview"]["rows"]["columns"] == ["id", "user.name", "user.address.city"]
    wrong_path = author.gql(
        PREVIEW,
        {"input": {"source": {"http": {"url": f"{source_server}/api/items", "recordsPath": "data.nothing"}}}},
    )
    assert wrong_path["data"]["previewSource"]["errors"][0]["code"] == "PARSE_ERROR"
    # a dataset of someone else's is not found; nothing was saved by any preview
    other = register(author.client)["accessToken"]
    theirs = ingest(author.client, other, b"a,b\n1,2\n")
    refused = author.gql(PREVIEW, {"input": {"source": {"dataset": {"datasetId": theirs["id"]}}}})
    assert refused["data"]["previewSource"]["errors"][0]["code"] == "NOT_FOUND"
    mine = ingest(author.client, author.token, b"a,b\n1,x\n2,y\n")
    own = author.gql(PREVIEW, {"input": {"source": {"dataset": {"datasetId": mine["id"]}}, "rows": 1}})
    assert own["data"]["previewSource"]["preview"]["rows"]["rows"] == [[1, "x"]]
    assert author.gql("{ pipelines { totalCount } }")["data"]["pipelines"]["totalCount"] == 0
