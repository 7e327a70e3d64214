"""A CSV reply larger than the job's share of its memory budget: written to scratch as it downloads, read chunk by
chunk as a large upload is, and stored exactly as a generous budget stores it; nothing is left in scratch, also when
the reply is cut off by the size cap. The CSV is served locally and made here."""

from __future__ import annotations

import dataclasses
import gzip
from collections.abc import Iterator

import numpy as np
import pandas as pd
import pytest

from services.errors import ErrorCode, ServiceError
from services.pipelines.config import PipelineLimits
from services.pipelines.config.sources import HttpSource
from services.pipelines.job import collect_table
from services.pipelines.spill import Spill
from tests.pipelines.test_source_spill import SMALL_MB, app, collect_into_a_dataset_from
from tests.support.http_fixtures import serve, text_reply

ROWS = 60_000  # ~3 MB of text: several times the 8 MB budget's share for a source (8 x 0.5 / 6 = 0.67 MB)


def orders_csv() -> bytes:
    rng = np.random.default_rng(9)
    frame = pd.DataFrame(
        {
            "id": np.arange(ROWS),
            "amount": np.round(rng.lognormal(3, 1, ROWS), 2),
            "day": pd.date_range("2024-01-01", periods=ROWS, freq="min").strftime("%Y-%m-%d %H:%M:%S"),
            "status": rng.choice(["paid", "refunded", "NA"], ROWS),
            "note": [f"order {i} for customer {i % 977}" for i in range(ROWS)],
        }
    )
    return frame.to_csv(index=False).encode()


CSV = orders_csv()


@pytest.fixture(scope="module")
def csv_api() -> Iterator[str]:
    yield from serve(
        {
            "/orders.csv": lambda request: text_reply(CSV, "text/csv"),
            "/orders.csv.gz": lambda request: text_reply(gzip.compress(CSV), "application/gzip"),
        }
    )


@pytest.mark.slow  # a 60,000-row CSV collected three times
def test_a_csv_reply_beyond_the_budget_streams_to_disk_and_stores_what_a_generous_budget_stores(tmp_path, csv_api):
    with app(tmp_path, "small", SMALL_MB) as small:  # one app at a time: on PostgreSQL they share the database
        spilled, out_small, log_small = collect_into_a_dataset_from(small, {"url": f"{csv_api}/orders.csv"})
        scratch_left = list(small.settings.scratch_dir.glob("*/*"))
        zipped, out_zipped, log_zipped = collect_into_a_dataset_from(small, {"url": f"{csv_api}/orders.csv.gz"})
    with app(tmp_path, "large", 2048) as large:
        whole, out_large, log_large = collect_into_a_dataset_from(large, {"url": f"{csv_api}/orders.csv"})

    assert "MB written to scratch as it arrived" in log_small
    assert f"its {SMALL_MB:,} MB memory budget: the source spilled to disk, read chunk by chunk" in log_small
    # written to scratch too, but read whole: it fits the share of a generous budget
    assert "spilled to disk" not in log_large, log_large
    assert f"Read {csv_api}/orders.csv: encoding utf-8, delimiter ',', header yes; {ROWS:,} row(s)\n" in log_large
    assert spilled["lastRun"]["rowsOut"] == ROWS == whole["lastRun"]["rowsOut"] == zipped["lastRun"]["rowsOut"]
    # The same columns and values; the chunked reader (the large upload's) keeps timestamps in ms, the whole-file
    # reader in s, as for uploads
    assert [(c["name"], c["semanticType"]) for c in spilled["outputSchema"]] == [
        (c["name"], c["semanticType"]) for c in whole["outputSchema"]
    ]
    for out in (out_small, out_zipped):
        pd.testing.assert_frame_equal(out.astype({"day": out_large["day"].dtype}), out_large)
    assert "spilled to disk, read chunk by chunk" in log_zipped
    assert str(out_small["day"].dtype).startswith("datetime64") and out_small["status"].isna().sum() > 0
    assert out_small["id"].tolist() == list(range(ROWS))
    assert scratch_left == []  # the downloaded reply and its Parquet went with the job


def test_a_csv_reply_cut_off_by_the_size_cap_leaves_nothing_in_scratch(tmp_path, csv_api):
    spill = Spill(tmp_path, SMALL_MB, "run", lambda message, level: None)
    limits = PipelineLimits(allowed_hosts="127.0.0.1", max_source_bytes=len(CSV) // 2, max_records=1_000_000)
    source = HttpSource.model_validate({"url": f"{csv_api}/orders.csv"})
    with pytest.raises(ServiceError) as refused:
        collect_table(source, limits, lambda message, level: None, spill)
    assert refused.value.code == ErrorCode.PAYLOAD_TOO_LARGE and "sent more than" in refused.value.message
    assert list(tmp_path.iterdir()) == []

    found = collect_table(source, dataclasses.replace(limits, max_source_bytes=2**26), print, spill)
    assert found.exists() and list(tmp_path.iterdir()) == [found]  # only the typed Parquet; the reply is gone
