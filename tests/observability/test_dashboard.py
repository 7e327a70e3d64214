"""docs/grafana-dashboard.json: every query parses in a real Prometheus and names only metrics /metrics exports."""

from __future__ import annotations

import json
import re

import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient

from devtools.redis_local import LocalRedis
from server.app import create_app
from tests.support.paths import ROOT
from tests.support.prometheus import LocalPrometheus
from tests.support.settings import make_settings

DASHBOARD = json.loads((ROOT / "docs" / "grafana-dashboard.json").read_text())
QUERIES = [target["expr"] for panel in DASHBOARD["panels"] for target in panel.get("targets", [])]
SUFFIXES = {
    "counter": ("_total",),
    "histogram": ("_bucket", "_count", "_sum"),
    "summary": ("_count", "_sum"),
    "gauge": ("",),
    "info": ("_info",),
    "untyped": ("",),
}
KEYWORDS = {
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "and",
    "or",
    "unless",
    "offset",
    "bool",
    "inf",
    "nan",
    # aggregation operators, which may be followed by `by (...)` rather than their parenthesis
    "sum",
    "min",
    "max",
    "avg",
    "count",
    "group",
    "stddev",
    "stdvar",
    "topk",
    "bottomk",
    "quantile",
    "count_values",
}


def metric_names_in(query: str) -> set[str]:
    """Identifiers of a PromQL expression that are metric names: not functions, keywords, labels or strings."""
    query = re.sub(r'"(?:[^"\\]|\\.)*"', '""', query)  # string literals
    query = re.sub(r"\{[^}]*\}", "", query)  # label matchers
    query = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", r"\1", query)  # label lists
    query = re.sub(r"\[[^\]]*\]", "", query)  # range selectors
    query = re.sub(r"\b\d+(\.\d+)?([eE][+-]?\d+)?\b", "0", query)  # numbers, 1e-9 included
    names = set()
    for match in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", query):
        following = query[match.end() :].lstrip()[:1]
        word = match.group()
        if following == "(" or word.lower() in KEYWORDS or re.fullmatch(r"\d.*|e\d+", word):
            continue
        names.add(word)
    return names


def test_the_name_finder_sees_metrics_not_functions_or_labels():
    query = 'histogram_quantile(0.95, sum by (le, kind) (rate(assay_job_queue_wait_seconds_bucket{kind!="x"}[15m])))'
    assert metric_names_in(query) == {"assay_job_queue_wait_seconds_bucket"}
    assert metric_names_in("process_resident_memory_bytes and on (instance) assay_info") == {
        "process_resident_memory_bytes",
        "assay_info",
    }


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> set[str]:
    """Every sample name a replica's /metrics can carry (from its HELP/TYPE lines), Redis configured."""
    with LocalRedis() as redis:
        settings = make_settings(tmp_path_factory.mktemp("metrics"), redis_url=redis.url)
        with TestClient(create_app(settings), client=("127.0.0.1", 40000)) as client:
            text = client.get("/metrics").text
    return {family.name + suffix for family in text_string_to_metric_families(text) for suffix in SUFFIXES[family.type]}


def test_every_dashboard_query_names_an_exported_metric(exported):
    assert len(QUERIES) >= 15
    for query in QUERIES:
        names = metric_names_in(query)
        assert names and names <= exported, (query, names - exported)
    # ... and the starter dashboard leaves none of the assay_* metrics out.
    assay_metrics = {name for name in exported if name.startswith("assay_")}
    used = set().union(*(metric_names_in(q) for q in QUERIES))
    families = {re.sub(r"_(total|bucket|count|sum)$", "", name) for name in used}
    assert {re.sub(r"_(total|bucket|count|sum)$", "", name) for name in assay_metrics} <= families


def test_every_dashboard_query_parses_in_prometheus():
    with LocalPrometheus([]) as prometheus:
        for query in QUERIES:
            prometheus.query(query)  # asserts the API answered "success", not a parse error
