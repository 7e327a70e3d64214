"""Pure logic of the object store: storage URLs, object keys, the ids a job's params name."""

from __future__ import annotations

from pathlib import Path

import pytest

from server.settings import ConfigurationError
from services.storage.objects import ObjectStore, parse_url
from services.storage.staging import named_ids
from tests.support.settings import make_settings


def test_a_storage_url_is_a_bucket_and_an_optional_prefix():
    assert parse_url("s3://assay/data/") == ("assay", "data/")
    assert parse_url("s3://assay") == ("assay", "")
    for wrong in ("https://assay/data", "s3:///data", "/srv/data"):
        with pytest.raises(ValueError, match="must look like s3://"):
            parse_url(wrong)


def test_a_server_refuses_to_start_with_a_storage_url_it_cannot_use(tmp_path):
    with pytest.raises(ConfigurationError, match="s3://bucket/prefix"):
        make_settings(tmp_path, storage_url="minio:9000/assay").check_deployment()


def test_keys_are_the_data_dirs_relative_paths_under_the_prefix_and_nothing_outside_it(tmp_path):
    store = ObjectStore("s3://assay/prod", tmp_path)
    assert store.key(tmp_path / "datasets" / "abc" / "data.parquet") == "prod/datasets/abc/data.parquet"
    assert store.path("prod/models/m/model.joblib") == tmp_path.resolve() / "models" / "m" / "model.joblib"
    assert store.key(Path("/etc/passwd")) is None and store.key(tmp_path / ".." / "elsewhere") is None


def test_the_ids_a_jobs_params_name_anywhere_in_them():
    first, second, third = "0" * 32, "1" * 32, "2" * 32
    params = {
        "dataset_id": first,
        "data_dir": "/srv/data",
        "columns": [{"name": "id"}],
        "config": {"sources": [{"dataset": {"dataset_id": second}}]},
        "ids": [third, first],
        "name": "x" * 32,
    }
    assert named_ids(params) == [first, second, third]
