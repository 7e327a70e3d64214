"""Hand-made inputs: the shapes issue 21 found and their neighbours, as (name, request) pairs.

A request is a dict of keyword arguments for FuzzServer.post; `{dataset}`-style placeholders in
documents and variables are filled with the fuzzing user's real ids.
"""

from __future__ import annotations

import base64
import json
from typing import Any

PREFLIGHT = {"apollo-require-preflight": "1"}


def _doc(query: str, variables: dict | None = None) -> dict[str, Any]:
    return {"json_body": {"query": query, "variables": variables or {}}}


def _cursor(text: bytes) -> str:
    return base64.urlsafe_b64encode(text).decode()


PREDICT = "mutation($i: PredictInput!) { predict(input: $i) { predictions { value } errors { code message field } } }"
CREATE = "mutation($i: CreatePipelineInput!) { createPipeline(input: $i) { pipeline { id } errors { code field } } }"
PREVIEW = "mutation($i: PreviewSourceInput!) { previewSource(input: $i) { errors { code field } } }"
TRAIN = "mutation($i: TrainModelInput!) { trainModel(input: $i) { job { id } errors { code field } } }"
PREPROCESS = (
    "mutation($i: PreprocessDatasetInput!) { preprocessDataset(input: $i) { job { id } errors { code field } } }"
)
ANALYZE = "mutation($i: AnalyzeDatasetInput!) { analyzeDataset(input: $i) { job { id } errors { code field } } }"
CHART = "query($id: ID!, $c: ChartInput!) { dataset(id: $id) { chart(input: $c) { totalRows } } }"
UPLOAD = "mutation($input: UploadDatasetInput!) { uploadDataset(input: $input) { job { id } errors { code field } } }"
URLS = [
    "http://[::1",
    "http://[::1]:99999/",
    "http://127.0.0.1:99999/",
    f"http://{'a' * 64}.example/",
    "http://a..b/",
    "http://exa mple.com/",
    "http://%00/",
    "http://[v1.x]/",
    "http://2130706433/",
    "https://-x.example/",
    "http:///x",
    "http://host:0/",
    "http://\u0378.example/",
    "ftp://example.com/",
    "javascript:alert(1)",
    "http://" + "a" * 9000,
]


def _upload(csv: dict | None, content: bytes = b"a,b\n1,2\n3,4\n", mapping: Any = None, operations: Any = None) -> dict:
    ops = (
        operations
        if operations is not None
        else json.dumps({"query": UPLOAD, "variables": {"input": {"file": None, **({"csv": csv} if csv else {})}}})
    )
    return {
        "data": {
            "operations": ops,
            "map": json.dumps(mapping if mapping is not None else {"0": ["variables.input.file"]}),
        },
        "files": {"0": ("data.csv", content, "text/csv")},
        "headers": PREFLIGHT,
    }


def corpus() -> list[tuple[str, dict[str, Any]]]:
    cases: list[tuple[str, dict[str, Any]]] = [
        # transport: before authentication, inside request parsing
        (
            "nested 100,000 deep",
            {"content": b"[" * 100_000 + b"]" * 100_000, "headers": {"content-type": "application/json"}},
        ),
        (
            "5,000-digit integer in the body",
            {
                "content": b'{"query": "{ me { id } }", "variables": {"x": ' + b"9" * 5000 + b"}}",
                "headers": {"content-type": "application/json"},
            },
        ),
        ("body not UTF-8", {"content": b'{"query": "\xff\xfe"}', "headers": {"content-type": "application/json"}}),
        ("bare JSON string body", {"content": b'"x"', "headers": {"content-type": "application/json"}}),
        ("bare JSON number body", {"content": b"12", "headers": {"content-type": "application/json"}}),
        ("JSON body null", {"content": b"null", "headers": {"content-type": "application/json"}}),
        ("JSON array of non-objects", {"content": b"[1, 2]", "headers": {"content-type": "application/json"}}),
        ("query not a string", {"json_body": {"query": 12}}),
        ("variables a list", {"json_body": {"query": "{ me { id } }", "variables": [1]}}),
        ("multipart map [1]", _upload(None, mapping=[1])),
        ("multipart map of non-lists", _upload(None, mapping={"0": "variables.input.file"})),
        ("multipart map to a missing path", _upload(None, mapping={"0": ["variables.input.file.0"]})),
        ("multipart operations not JSON", _upload(None, operations="{nope")),
        ("empty body", {"content": b"", "headers": {"content-type": "application/json"}}),
        ("form body", {"content": b"query=1", "headers": {"content-type": "application/x-www-form-urlencoded"}}),
        # item 2: ordinary authenticated requests that were masked
        ("predict 10**400", _doc(PREDICT, {"i": {"modelId": "{model}", "rows": [{"temp": 10**400, "row_id": 1}]}})),
        (
            "predict -10**400 in a text column",
            _doc(PREDICT, {"i": {"modelId": "{model}", "rows": [{"city": -(10**400)}]}}),
        ),
        ("predict 2**70 boolean", _doc(PREDICT, {"i": {"modelId": "{model}", "rows": [{"sold": 2**70}]}})),
        (
            "predict mixed zones",
            _doc(
                PREDICT,
                {
                    "i": {
                        "modelId": "{model}",
                        "rows": [
                            {"when": "2024-01-01T00:00:00+05:00", "temp": 1.0},
                            {"when": "2024-01-02", "temp": 2.0},
                        ],
                    }
                },
            ),
        ),
        ("predict 1 MB city", _doc(PREDICT, {"i": {"modelId": "{model}", "rows": [{"city": "x" * (1 << 20)}]}})),
        ("predict a row that is a list", _doc(PREDICT, {"i": {"modelId": "{model}", "rows": [[1, 2]]}})),
        (
            "search 50,001 characters",
            _doc("query($s: String) { datasets(first: 5, search: $s) { totalCount } }", {"s": "x" * 50_001}),
        ),
        (
            "search with NUL and %",
            _doc("query($s: String) { datasets(first: 5, search: $s) { totalCount } }", {"s": "\x00%_\\"}),
        ),
        (
            "histogram over a zone-aware column",
            _doc(CHART, {"id": "{dataset}", "c": {"type": "HISTOGRAM", "x": "when"}}),
        ),
        (
            "line over a zone-aware column",
            _doc(CHART, {"id": "{dataset}", "c": {"type": "LINE", "x": "when", "y": "temp"}}),
        ),
        (
            "line against the row number",
            _doc(CHART, {"id": "{dataset}", "c": {"type": "LINE", "x": "row_id", "y": "temp"}}),
        ),
        (
            "chart bins 2**31-1",
            _doc(CHART, {"id": "{dataset}", "c": {"type": "HISTOGRAM", "x": "temp", "bins": 2**31 - 1}}),
        ),
        (
            "export ONNX of the first job's model",
            _doc("query($id: ID!) { model(id: $id) { exportUrl(format: ONNX) } }", {"id": "{model}"}),
        ),
        (
            "generateReport logo [::1",
            _doc(
                "mutation($d: ID!) { generateReport(input: {datasetId: $d, theme: {logoUrl: "
                '"http://[::1"}}) { errors { code field } } }',
                {"d": "{dataset}"},
            ),
        ),
        # item 3: inputs that used to fail their job
        ("train seed -1", _doc(TRAIN, {"i": {"datasetId": "{dataset}", "target": "label", "seed": -1}})),
        ("train testSize 0.999", _doc(TRAIN, {"i": {"datasetId": "{dataset}", "target": "label", "testSize": 0.999}})),
        ("train testSize 1e-9", _doc(TRAIN, {"i": {"datasetId": "{dataset}", "target": "label", "testSize": 1e-9}})),
        ("train cvFolds 20", _doc(TRAIN, {"i": {"datasetId": "{dataset}", "target": "label", "cvFolds": 20}})),
        (
            "train on the zone-aware time",
            _doc(
                TRAIN,
                {
                    "i": {
                        "datasetId": "{dataset}",
                        "target": "label",
                        "features": ["when"],
                        "algorithms": ["RANDOM_FOREST"],
                    }
                },
            ),
        ),
        ("train an identifier", _doc(TRAIN, {"i": {"datasetId": "{dataset}", "target": "row_id"}})),
        ("analyze an identifier", _doc(ANALYZE, {"i": {"datasetId": "{dataset}", "target": "row_id"}})),
        ("analyze with a 1 MB target", _doc(ANALYZE, {"i": {"datasetId": "{dataset}", "target": "t" * (1 << 20)}})),
        (
            "datetime features of zone-aware times",
            _doc(
                PREPROCESS,
                {
                    "i": {
                        "datasetId": "{dataset}",
                        "steps": [
                            {
                                "datetimeFeatures": {
                                    "columns": ["when"],
                                    "parts": ["year", "hour", "epoch", "is_weekend"],
                                }
                            }
                        ],
                    }
                },
            ),
        ),
        (
            "impute MODE on a datetime",
            _doc(
                PREPROCESS,
                {"i": {"datasetId": "{dataset}", "steps": [{"impute": {"columns": ["when"], "strategy": "MODE"}}]}},
            ),
        ),
        (
            "rename to a 1 MB name",
            _doc(
                PREPROCESS,
                {"i": {"datasetId": "{dataset}", "steps": [{"renameColumns": {"mapping": {"city": "c" * (1 << 20)}}}]}},
            ),
        ),
        (
            "cast to DATETIME with a bad format",
            _doc(
                PREPROCESS,
                {
                    "i": {
                        "datasetId": "{dataset}",
                        "steps": [{"cast": {"column": "city", "to": "DATETIME", "format": "%Q%%"}}],
                    }
                },
            ),
        ),
        (
            "clipOutliers factor NaN-like",
            _doc(
                PREPROCESS,
                {"i": {"datasetId": "{dataset}", "steps": [{"clipOutliers": {"columns": ["temp"], "factor": 1e308}}]}},
            ),
        ),
    ]
    for encoding in ("rot13", "base64", "zlib", "idna", "undefined", "utf-16", "utf-32", "punycode", "\x00"):
        cases.append((f"upload encoding {encoding!r}", _upload({"encoding": encoding})))
    for delimiter in ("é", "\x00", "\u2028", "ab", ""):
        cases.append((f"upload delimiter {delimiter!r}", _upload({"delimiter": delimiter})))
    cases.append(("upload naValues of 1 MB", _upload({"naValues": ["n" * (1 << 20)]})))
    for lister in ("datasets", "models", "jobs", "pipelines"):
        for cursor in (
            b"2024-01-01T00:00:00|abc",
            b"9999-99-99|x",
            b"\xff",
            b"x" * 10_000,
            b"2024-01-01T00:00:00+00:00|\x00",
        ):
            cases.append(
                (
                    f"{lister} cursor {cursor[:20]!r}",
                    _doc(
                        f"query($a: String) {{ {lister}(first: 3, after: $a) {{ totalCount }} }}",
                        {"a": _cursor(cursor)},
                    ),
                )
            )
    for url in URLS:
        cases.append(
            (
                f"createPipeline http {url[:40]!r}",
                _doc(
                    CREATE, {"i": {"name": "u", "source": {"http": {"url": url}}, "sink": {"dataset": {"name": "o"}}}}
                ),
            )
        )
        cases.append(
            (
                f"previewSource scrape {url[:40]!r}",
                _doc(
                    PREVIEW,
                    {
                        "i": {
                            "source": {
                                "scrape": {"url": url, "rowSelector": "tr", "fields": [{"name": "a", "selector": "td"}]}
                            }
                        }
                    },
                ),
            )
        )
    for value in ("{foreign_dataset}", "RGF0YXNldDo", "\x00", "x" * 100_000, "TW9kZWw6{dataset}"):
        cases.append((f"node id {value[:20]!r}", _doc("query($id: ID!) { node(id: $id) { id } }", {"id": value})))
        cases.append(
            (
                f"deleteDataset id {value[:20]!r}",
                _doc("mutation($id: ID!) { deleteDataset(input: {id: $id}) { errors { code } } }", {"id": value}),
            )
        )
        cases.append(
            (
                f"cancelJob id {value[:20]!r}",
                _doc("mutation($id: ID!) { cancelJob(input: {id: $id}) { errors { code } } }", {"id": value}),
            )
        )
    return cases


def fill(request: dict[str, Any], ids: dict[str, str]) -> dict[str, Any]:
    """The request with placeholders like {dataset} replaced by real ids (only inside JSON documents)."""
    if "json_body" not in request:
        return request
    text = json.dumps(request["json_body"])
    for key, value in ids.items():
        text = text.replace("{" + key + "}", value)
    return {**request, "json_body": json.loads(text)}
