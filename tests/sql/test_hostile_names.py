"""Names and values that look like SQL are only data: every place a user's column name, dataset name or value
reaches DuckDB (charts, the SQL query, checks, profiles) quotes it or binds it, so it works as written and no
injected statement runs (docs/security.md, "How SQL is built")."""

from __future__ import annotations

from tests.checks.operations import create_suite, validate
from tests.pipelines.operations import create_from_dataset, run
from tests.support.graphql import gql, ingest, wait_for_job

HOSTILE = 'a"; DROP TABLE x; --'  # a column name that would end a quoted identifier and start a statement
QUOTE = "it's"  # a column name with a single quote
NAME = 'o\'brien "sales"; DROP VIEW x.csv'  # the dataset's name, hence its table name in `query(sql)`
CSV = "\n".join(
    [
        '"a""; DROP TABLE x; --",it\'s,amount',
        "O'Brien,x,1.5",
        '"say ""hi""",y,2.5',
        "O'Brien,,3",
        "'); DROP TABLE y; --,z,4",
        "",
    ]
).encode()

CHART = """query($id: ID!, $input: ChartInput!) { dataset(id: $id) { chart(input: $input) {
  type x totalRows points { x y group } } } }"""
QUERY = """query($sql: String!) { query(sql: $sql) { columns { name } rows tables { name datasetId } } }"""
PROFILE = "mutation($id: ID!) { profileDataset(input: {datasetId: $id, plots: false}) { job { id } errors { code } } }"
PROFILE_READ = """query($id: ID!) { dataset(id: $id) { rowCount
  profile { duplicateRows columns { name count nullCount distinctCount } missingPatterns(limit: 5) { columns count } }
  rows(offset: 0, limit: 10) { columns rows } } }"""


def quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def test_a_column_named_like_an_injection_is_charted_queried_checked_and_profiled_as_data(client, token):
    dataset = ingest(client, token, CSV, "o'brien; --.csv", name=NAME, expect="SUCCEEDED")
    assert dataset["name"] == NAME and dataset["fileName"] == "o'brien; --.csv"
    assert [c["name"] for c in dataset["columns"]] == [HOSTILE, QUOTE, "amount"]

    bars = gql(client, CHART, {"id": dataset["id"], "input": {"type": "BAR", "x": HOSTILE}}, token)
    assert "errors" not in bars, bars
    counted = {p["x"]: p["y"] for p in bars["data"]["dataset"]["chart"]["points"]}
    assert counted == {"O'Brien": 2.0, 'say "hi"': 1.0, "'); DROP TABLE y; --": 1.0}
    grouped = gql(
        client,
        CHART,
        {"id": dataset["id"], "input": {"type": "HISTOGRAM", "x": "amount", "bins": 2, "groupBy": QUOTE}},
        token,
    )
    assert "errors" not in grouped, grouped
    assert {p["group"] for p in grouped["data"]["dataset"]["chart"]["points"]} == {"x", "y", "z", None}

    # the dataset's name is its table; the hostile column is read by its quoted name, a value bound as written
    sql = f"SELECT {quoted(HOSTILE)} AS v, sum(amount) AS total FROM {quoted(NAME)} GROUP BY v ORDER BY v"
    result = gql(client, QUERY, {"sql": sql}, token)
    assert "errors" not in result, result
    assert result["data"]["query"]["rows"] == [["'); DROP TABLE y; --", 4.0], ["O'Brien", 4.5], ['say "hi"', 2.5]]
    assert {"name": NAME, "datasetId": dataset["id"]} in result["data"]["query"]["tables"]

    suite = create_suite(
        client,
        token,
        dataset["id"],
        [
            {"column": HOSTILE, "allowedValues": ["O'Brien", 'say "hi"'], "unique": True},
            {"column": HOSTILE, "pattern": "[^;]*"},
            {"column": QUOTE, "notNull": True},
        ],
    )
    assert suite["errors"] == [], suite
    validation = validate(client, token, dataset["id"], suite["suite"]["id"])
    assert validation["job_status"] == "SUCCEEDED", validation
    outcome = {(r["column"], r["rule"]): r for r in validation["results"]}
    allowed = outcome[(HOSTILE, "ALLOWED_VALUES")]
    assert (allowed["passed"], allowed["failingRows"], allowed["examples"]) == (False, 1, ["'); DROP TABLE y; --"])
    assert outcome[(HOSTILE, "UNIQUE")]["examples"] == ["O'Brien"]
    assert outcome[(HOSTILE, "PATTERN")]["failingRows"] == 1  # the one value holding a ';'
    assert outcome[(QUOTE, "NOT_NULL")]["failingRows"] == 1

    started = gql(client, PROFILE, {"id": dataset["id"]}, token)["data"]["profileDataset"]
    assert started["errors"] == [], started
    assert wait_for_job(client, token, started["job"]["id"])["status"] == "SUCCEEDED"
    read = gql(client, PROFILE_READ, {"id": dataset["id"]}, token)["data"]["dataset"]
    columns = {c["name"]: c for c in read["profile"]["columns"]}
    assert (columns[HOSTILE]["count"], columns[HOSTILE]["distinctCount"]) == (4, 3)
    assert columns[QUOTE]["nullCount"] == 1
    assert read["profile"]["missingPatterns"] == [{"columns": [QUOTE], "count": 1}]
    # nothing was dropped or changed on the way: every row reads back as uploaded
    assert read["rowCount"] == 4 and read["rows"]["columns"] == [HOSTILE, QUOTE, "amount"]
    assert [row[0] for row in read["rows"]["rows"]] == ["O'Brien", 'say "hi"', "O'Brien", "'); DROP TABLE y; --"]


def test_a_pipeline_upserts_rows_keyed_by_a_hostile_column_into_sqlite_and_reads_them_back(client, token):
    dataset = ingest(client, token, CSV, "hostile.csv", name=NAME, expect="SUCCEEDED")
    sink = {"sqlite": {"table": "people", "mode": "upsert", "key": [HOSTILE], "indexes": [[QUOTE, "amount"]]}}
    created = create_from_dataset(client, token, dataset["id"], "hostile", sink)
    assert created["errors"] == [], created
    first = run(client, token, created["pipeline"]["id"])
    second = run(client, token, created["pipeline"]["id"])  # the key's unique index and ON CONFLICT ... DO UPDATE
    for ran in (first, second):
        assert ran["lastRun"]["status"] == "SUCCEEDED", ran
    data = second["data"]
    assert data["columns"] == [HOSTILE, QUOTE, "amount"]
    # one row per key; the last of the two O'Brien rows wins
    assert sorted(data["rows"]) == sorted(
        [["O'Brien", None, 3.0], ['say "hi"', "y", 2.5], ["'); DROP TABLE y; --", "z", 4.0]]
    )
    assert data["totalRows"] == 3


def test_a_column_named_like_duckdbs_row_number_is_validated_as_the_users_own(client, token):
    """DuckDB refuses to add its `file_row_number` beside a column of that name: a validation then checks the
    user's column like any other (sample rows without `_row`), and a LINE chart is a typed refusal, not an
    internal error."""
    dataset = ingest(client, token, b"file_row_number,x,y\n1,1.0,2\n2,,3\n3,3.0,4\n", "rows.csv", expect="SUCCEEDED")
    suite = create_suite(
        client, token, dataset["id"], [{"column": "x", "notNull": True}, {"column": "file_row_number", "min": 2}]
    )
    validation = validate(client, token, dataset["id"], suite["suite"]["id"])
    assert validation["job_status"] == "SUCCEEDED", validation
    outcome = {(r["column"], r["rule"]): r for r in validation["results"]}
    assert outcome[("x", "NOT_NULL")]["failingSample"] == [{"file_row_number": 2, "x": None, "y": 3}]
    assert (outcome[("file_row_number", "MIN")]["observed"], outcome[("file_row_number", "MIN")]["examples"]) == (
        1,
        [1],
    )
    line = gql(client, CHART, {"id": dataset["id"], "input": {"type": "LINE", "x": "x", "y": "y"}}, token)
    assert line["errors"][0]["extensions"]["code"] == "INVALID_INPUT"
    assert "file_row_number" in line["errors"][0]["message"]
