"""A user's column named `file_row_number` beside work that needs DuckDB's row number of that name: DuckDB refuses
to add it then, so each such piece of work says so as INVALID_INPUT instead of failing with a BinderException.
(Validations check such a column as the user's own, and LINE charts refuse it: tests/sql/test_hostile_names.py.)"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from services.errors import ErrorCode, ServiceError
from services.modeling.sampling import read_training_frame
from services.pipelines.checks import run_checks
from services.pipelines.config.checks import PipelineCheck
from services.preprocessing.ordered_fill import ordered_fill


@pytest.fixture
def numbered(tmp_path):
    path = tmp_path / "data.parquet"
    pq.write_table(pa.table({"file_row_number": [5, 6, 7, 8], "x": [1.0, None, 3.0, 3.0], "y": [0, 1, 0, 1]}), path)
    return path


def refused(call) -> str:
    with pytest.raises(ServiceError) as raised:
        call()
    assert raised.value.code is ErrorCode.INVALID_INPUT
    assert "file_row_number" in raised.value.message
    return raised.value.message


def test_a_fill_in_row_order_says_it_cannot_number_the_rows(numbered, tmp_path):
    message = refused(
        lambda: ordered_fill(
            numbered, tmp_path / "out.parquet", {"strategy": "FFILL", "columns": ["x"]}, memory_mb=128, scratch_dir=None
        )
    )
    assert message.startswith("Filling with FFILL in row order")
    assert not (tmp_path / "out.parquet").exists()


def test_a_sampled_training_read_says_it_cannot_number_the_rows(numbered):
    columns = [{"name": name, "semantic_type": "NUMERIC"} for name in ("file_row_number", "x", "y")]
    refused(
        lambda: read_training_frame(
            numbered,
            names=["x", "y"],
            target="y",
            columns=columns,
            classify=True,
            memory_mb=128,
            scratch_dir=None,
            seed=0,
            log=lambda _message: None,
            max_rows=2,  # fewer than the file's rows: the sampled path, where rows are drawn by position
        )
    )


def test_a_pipeline_uniqueness_check_over_a_file_says_it_cannot_number_the_rows(numbered):
    refused(lambda: run_checks(numbered, [PipelineCheck(column="x", unique=True)], {}, lambda _message, _level: None))
