"""Every chart type through Dataset.chart, with down-sampling bounds and bad-input errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tests.support.graphql import gql, ingest, register
from tests.support.shared import shared_fixture

pytestmark = pytest.mark.one_database(reason="charts aggregated by the engine")

CHART = """query($id: ID!, $input: ChartInput!) { dataset(id: $id) { chart(input: $input) {
  type x y totalRows sampled points { x y x2 group } } } }"""


@pytest.fixture
def sales(client, token):
    return ingest_sales(client, token)


# The sales table for the refusal cases, which change nothing: one ingest for all of them.
sales_to_ask = shared_fixture("sales_to_ask", lambda client, token: ingest_sales(client, token)[1])


def ingest_sales(client, token):
    rng = np.random.default_rng(7)
    rows = 5000
    frame = pd.DataFrame(
        {
            "day": pd.date_range("2024-01-01", periods=rows, freq="h"),
            "store": rng.choice([f"s{i:02d}" for i in range(30)], rows),
            "channel": rng.choice(["web", "shop"], rows),
            "units": rng.integers(1, 20, rows),
            "price": rng.normal(50, 10, rows).round(2),
            "signal": np.sin(np.arange(rows) / 200) + rng.normal(0, 0.05, rows),
            "label": ["x"] * rows,
        }
    )
    dataset = ingest(client, token, frame.to_csv(index=False).encode(), "sales.csv")
    return frame, dataset["id"]


def chart(client, token, dataset_id, **spec):
    return gql(client, CHART, {"id": dataset_id, "input": spec}, token)


def points(result):
    assert "errors" not in result, result
    return result["data"]["dataset"]["chart"]


def test_histogram_counts_every_row(client, token, sales):
    frame, dataset_id = sales
    result = points(chart(client, token, dataset_id, type="HISTOGRAM", x="price", bins=12))
    assert len(result["points"]) == 12 and sum(p["y"] for p in result["points"]) == len(frame)
    counts, edges = np.histogram(frame.price, bins=12)
    assert [p["y"] for p in result["points"]] == counts.tolist()
    assert result["points"][0]["x"] == pytest.approx(edges[0]) and result["points"][-1]["x2"] == pytest.approx(
        edges[-1]
    )
    grouped = points(chart(client, token, dataset_id, type="HISTOGRAM", x="price", bins=5, groupBy="channel"))
    assert {p["group"] for p in grouped["points"]} == {"web", "shop"} and len(grouped["points"]) == 10
    dates = points(chart(client, token, dataset_id, type="HISTOGRAM", x="day", bins=4))
    assert dates["points"][0]["x"].startswith("2024-01-01") and sum(p["y"] for p in dates["points"]) == len(frame)


def test_bar_top_levels_and_other(client, token, sales):
    frame, dataset_id = sales
    result = points(chart(client, token, dataset_id, type="BAR", x="store", top=5))
    counts = frame.store.value_counts()
    assert [p["x"] for p in result["points"][:5]] == list(counts.index[:5])
    assert result["points"][5] == {"x": "Other", "y": float(counts.iloc[5:].sum()), "x2": None, "group": None}
    assert result["sampled"] is True and sum(p["y"] for p in result["points"]) == len(frame)
    summed = points(chart(client, token, dataset_id, type="BAR", x="channel", y="units", aggregate="SUM"))
    assert {p["x"]: p["y"] for p in summed["points"]} == frame.groupby("channel").units.sum().astype(float).to_dict()
    assert summed["sampled"] is False
    means = points(
        chart(client, token, dataset_id, type="BAR", x="channel", y="price", aggregate="MEAN", groupBy="store")
    )
    expected = frame.groupby(["channel", "store"]).price.mean()
    for point in means["points"]:
        assert point["y"] == pytest.approx(expected[(point["x"], point["group"])])
    for how, method in (("MEDIAN", "median"), ("MIN", "min"), ("MAX", "max")):
        got = points(chart(client, token, dataset_id, type="PIE", x="channel", y="price", aggregate=how))
        assert {p["x"]: p["y"] for p in got["points"]} == pytest.approx(
            getattr(frame.groupby("channel").price, method)().to_dict()
        )


def test_pie_without_y(client, token, sales):
    frame, dataset_id = sales
    result = points(chart(client, token, dataset_id, type="PIE", x="channel"))
    assert {p["x"]: p["y"] for p in result["points"]} == frame.channel.value_counts().astype(float).to_dict()


def test_scatter_is_sampled_with_a_fixed_seed(client, token, sales):
    frame, dataset_id = sales
    first = points(chart(client, token, dataset_id, type="SCATTER", x="price", y="units", limit=300))
    again = points(chart(client, token, dataset_id, type="SCATTER", x="price", y="units", limit=300))
    assert len(first["points"]) == 300 and first["sampled"] is True and first["totalRows"] == len(frame)
    assert first == again
    pairs = set(zip(frame.price, frame.units.astype(float), strict=True))
    assert all((p["x"], p["y"]) in pairs for p in first["points"])
    everything = points(
        chart(client, token, dataset_id, type="SCATTER", x="price", y="units", limit=10000, groupBy="channel")
    )
    assert len(everything["points"]) == len(frame) and everything["sampled"] is False
    assert {p["group"] for p in everything["points"]} == {"web", "shop"}


def test_line_is_sorted_and_shape_preserving(client, token, sales):
    frame, dataset_id = sales
    result = points(chart(client, token, dataset_id, type="LINE", x="day", y="signal", limit=200))
    xs = [p["x"] for p in result["points"]]
    assert len(xs) == 200 and xs == sorted(xs) and result["sampled"] is True
    assert xs[0].startswith("2024-01-01T00:00") and result["points"][-1]["y"] == pytest.approx(frame.signal.iloc[-1])
    ys = [p["y"] for p in result["points"]]
    assert max(ys) == pytest.approx(frame.signal.max(), abs=0.05) and min(ys) == pytest.approx(
        frame.signal.min(), abs=0.05
    )
    grouped = points(chart(client, token, dataset_id, type="LINE", x="price", y="units", limit=100, groupBy="channel"))
    assert len(grouped["points"]) <= 100 and {p["group"] for p in grouped["points"]} == {"web", "shop"}


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"type": "BAR", "x": "nope"}, ["input", "x"]),
        ({"type": "SCATTER", "x": "price"}, ["input", "y"]),
        ({"type": "SCATTER", "x": "price", "y": "missing"}, ["input", "y"]),
        ({"type": "HISTOGRAM", "x": "store"}, ["input", "x"]),
        ({"type": "LINE", "x": "label", "y": "price"}, ["input", "x"]),
        ({"type": "BAR", "x": "store", "y": "channel", "aggregate": "SUM"}, ["input", "y"]),
        ({"type": "BAR", "x": "store", "aggregate": "MEAN"}, ["input", "y"]),
        ({"type": "PIE", "x": "store", "groupBy": "channel"}, ["input", "groupBy"]),
        ({"type": "BAR", "x": "store", "groupBy": "ghost"}, ["input", "groupBy"]),
        ({"type": "SCATTER", "x": "price", "y": "units", "limit": 0}, ["input", "limit"]),
        ({"type": "HISTOGRAM", "x": "price", "bins": 1000}, ["input", "bins"]),
    ],
)
def test_bad_input_names_the_field(sales_to_ask, spec, field):
    client, token, dataset_id = sales_to_ask
    result = chart(client, token, dataset_id, **spec)
    error = result["errors"][0]
    assert error["extensions"]["code"] == "INVALID_INPUT" and error["extensions"]["field"] == field


def test_another_user_cannot_chart_your_data(client, token, sales):
    _, dataset_id = sales
    other = register(client)["accessToken"]
    assert chart(client, other, dataset_id, type="PIE", x="channel")["data"]["dataset"] is None


def test_missing_values_are_left_out(client, token):
    dataset = ingest(client, token, b"when,v,g\n2024-01-01,1,a\n,2,b\n2024-01-03,,a\n2024-01-04,4,\n")
    histogram = points(chart(client, token, dataset["id"], type="HISTOGRAM", x="when", bins=2, groupBy="g"))
    assert sum(p["y"] for p in histogram["points"]) == 3
    line = points(chart(client, token, dataset["id"], type="LINE", x="when", y="v"))
    assert [p["y"] for p in line["points"]] == [1.0, 4.0]


@pytest.fixture
def penguin_rows(client, token):
    """A row number (unique integers: IDENTIFIER), a year, a measurement and a flag, as users upload them."""
    rng = np.random.default_rng(3)
    frame = pd.DataFrame(
        {
            "row_id": np.arange(1, 301),
            "year": rng.choice([2007, 2008, 2009], 300),
            "body_mass_g": rng.normal(4200, 500, 300).round(),
            "male": rng.choice([True, False], 300),
        }
    )
    dataset = ingest(client, token, frame.to_csv(index=False).encode(), "penguins.csv")
    assert {c["name"]: c["semanticType"] for c in dataset["columns"]}["row_id"] == "IDENTIFIER"
    return dataset["id"]


@pytest.mark.parametrize(
    "spec",
    [
        {"type": "LINE", "x": "row_id", "y": "body_mass_g"},
        {"type": "SCATTER", "x": "row_id", "y": "body_mass_g", "groupBy": "male"},
        {"type": "HISTOGRAM", "x": "row_id", "bins": 3},
        {"type": "LINE", "x": "year", "y": "row_id"},
        {"type": "BAR", "x": "year", "y": "row_id", "aggregate": "MAX"},
    ],
)
def test_an_identifier_that_is_a_number_is_a_numeric_axis(client, token, penguin_rows, spec):
    chart_data = points(chart(client, token, penguin_rows, **spec))
    assert chart_data["totalRows"] == 300 and chart_data["points"]


def test_a_line_against_the_row_number_follows_the_rows(client, token, penguin_rows):
    line = points(chart(client, token, penguin_rows, type="LINE", x="row_id", y="body_mass_g", limit=1000))
    assert [p["x"] for p in line["points"]] == list(range(1, 301))


def test_histogram_over_timezone_aware_times_bins_in_utc(client, token):
    dataset = ingest(
        client, token, b"at,v\n2024-01-01T00:00:00+02:00,1\n2024-01-01T12:00:00+02:00,2\n2024-01-02T00:00:00+02:00,3\n"
    )
    assert dataset["columns"][0]["semanticType"] == "DATETIME", dataset["columns"]
    histogram = points(chart(client, token, dataset["id"], type="HISTOGRAM", x="at", bins=2))
    assert histogram["points"][0]["x"].startswith("2023-12-31T22:00") and sum(p["y"] for p in histogram["points"]) == 3
    line = points(chart(client, token, dataset["id"], type="LINE", x="at", y="v"))
    assert [p["y"] for p in line["points"]] == [1.0, 2.0, 3.0]


def test_a_missing_group_is_null_not_the_word_none(client, token):
    dataset = ingest(client, token, b"x,v,g\n1,1,a\n2,2,\n3,3,a\n4,4,\n")
    for spec in (
        {"type": "HISTOGRAM", "x": "x", "bins": 2, "groupBy": "g"},
        {"type": "BAR", "x": "g"},
        {"type": "SCATTER", "x": "x", "y": "v", "groupBy": "g"},
        {"type": "LINE", "x": "x", "y": "v", "groupBy": "g"},
    ):
        groups = {p["group"] for p in points(chart(client, token, dataset["id"], **spec))["points"]}
        assert "None" not in groups, spec


def test_a_line_beyond_the_budget_is_reduced_inside_the_engine(tmp_path):
    """With a budget too small to pull the series, each x-bucket's extremes are kept: the first, the last,
    the highest and the lowest point survive and the result says it was sampled."""
    import pyarrow as pa

    from services import files
    from services.datasets.charts import build_chart
    from services.ingest.parquet import write_parquet

    rows = 50_000
    signal = np.sin(np.arange(rows) / 500.0)
    signal[12_345] = 9.0
    path = files.parquet_path(tmp_path, "d")
    path.parent.mkdir(parents=True, exist_ok=True)
    write_parquet(pa.table({"t": np.arange(rows), "v": signal}), path)
    columns = [{"name": "t", "dtype": "int64"}, {"name": "v", "dtype": "float64"}]
    result = build_chart(
        tmp_path,
        "d",
        columns,
        {"type": "LINE", "x": "t", "y": "v", "limit": 200},
        memory_mb=1,
        scratch_dir=tmp_path / "scratch",
    )
    xs = [p["x"] for p in result["points"]]
    assert result["sampled"] is True and len(xs) == 200 and xs == sorted(xs)
    assert xs[0] == 0 and xs[-1] == rows - 1 and 12_345 in xs
    assert not any((tmp_path / "scratch").iterdir())
