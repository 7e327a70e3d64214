"""A data dir on a small real file system (tmpfs): uploads that cannot fit are refused before a byte is stored,
and a disk that fills during ingest fails the job saying so, leaving no partial files.

Mounting needs root (as in the CI container); elsewhere these tests skip.
"""

from __future__ import annotations

import gzip
import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from starlette.testclient import TestClient

from server.app import create_app
from tests.support.graphql import UPLOAD as UPLOAD_DOCUMENT
from tests.support.graphql import gql, register, upload, wait_for_job
from tests.support.settings import make_settings

pytestmark = pytest.mark.one_database(reason="disk space during ingest")

DATASETS = "query { datasets { totalCount edges { node { status error } } } }"


def small_disk(folder: Path, size_mb: int) -> Path:
    folder.mkdir(parents=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size_mb}m", "tmpfs", str(folder)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip("mounting a tmpfs needs root")
    return folder


@pytest.fixture
def disk_of(tmp_path):
    mounts: list[Path] = []

    def make(size_mb: int) -> Path:
        mounts.append(small_disk(tmp_path / "data", size_mb))
        return mounts[-1]

    yield make
    for folder in mounts:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def small_ints_csv(rows: int) -> bytes:
    """Text gzip squeezes far more than Parquet does: its copy outgrows the upload several times."""
    values = np.random.default_rng(3).integers(0, 10, (rows, 6))
    return b"a,b,c,d,e,f\n" + "\n".join(",".join(map(str, row)) for row in values.tolist()).encode() + b"\n"


def test_an_upload_the_free_disk_cannot_hold_is_refused_before_it_is_stored(tmp_path, disk_of):
    data_dir = disk_of(4)
    settings = make_settings(tmp_path, data_dir=data_dir)
    with TestClient(create_app(settings)) as client:
        token = register(client)["accessToken"]
        content = b"a,b\n" + b"1,2\n" * 700_000  # 2.8 MB: with its Parquet copy, more than the 4 MB disk
        answer = upload(client, token, content, "big.csv")
        error = answer["errors"][0]
        assert error["extensions"]["code"] == "PAYLOAD_TOO_LARGE"
        assert "need" in error["message"] and "MB is free" in error["message"]
        assert gql(client, DATASETS, token=token)["data"]["datasets"]["totalCount"] == 0
        assert list((data_dir / "uploads").glob("*")) == [] if (data_dir / "uploads").exists() else True
        small = upload(client, token, b"a,b\n1,2\n3,4\n", "small.csv")["data"]["uploadDataset"]
        assert small["errors"] == []  # a file that fits still goes through


@pytest.mark.slow  # fills a small filesystem (34 s loaded)
def test_a_disk_filling_during_ingest_fails_the_job_and_removes_what_it_wrote(tmp_path, disk_of):
    data_dir = disk_of(16)
    settings = make_settings(tmp_path, data_dir=data_dir)
    content = gzip.compress(small_ints_csv(1_500_000), compresslevel=9)
    assert len(content) < 6 * 2**20
    with TestClient(create_app(settings)) as client:
        token = register(client)["accessToken"]
        payload = upload(client, token, content, "ints.csv.gz")["data"]["uploadDataset"]
        assert payload["errors"] == [], payload
        job = wait_for_job(client, token, payload["job"]["id"], timeout=120)
        assert job["status"] == "FAILED"
        assert "The disk filled up while writing the dataset" in job["error"], job["error"]
        dataset = gql(client, DATASETS, token=token)["data"]["datasets"]["edges"][0]["node"]
        assert dataset["status"] == "FAILED" and "disk filled up" in dataset["error"]
        left = sorted(p.name for p in (data_dir / "datasets").rglob("*") if p.is_file())
        assert set(left) <= {"original", "upload.state"} and "original" in left, (
            left
        )  # no Parquet copy, no partial file


def test_a_chunked_upload_that_fills_the_disk_is_refused_and_leaves_nothing(tmp_path, disk_of):
    data_dir = disk_of(3)
    settings = make_settings(tmp_path, data_dir=data_dir)
    boundary = "diskfullboundary"
    operations = json.dumps({"query": UPLOAD_DOCUMENT, "variables": {"input": {"file": None}}})

    def body() -> Iterator[bytes]:  # no Content-Length: the free-disk check cannot happen up front
        yield (
            f'--{boundary}\r\nContent-Disposition: form-data; name="operations"\r\n\r\n{operations}\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="map"\r\n\r\n'
            '{"0": ["variables.input.file"]}\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="0"; filename="big.csv"\r\n'
            "Content-Type: text/csv\r\n\r\n"
        ).encode()
        yield b"a,b\n"
        for _ in range(80):
            yield b"1,2\n" * 25_000  # 8 MB in all, on a 3 MB disk
        yield f"\r\n--{boundary}--\r\n".encode()

    with TestClient(create_app(settings)) as client:
        token = register(client)["accessToken"]
        response = client.post(
            "/graphql",
            content=body(),
            headers={
                "authorization": f"Bearer {token}",
                "apollo-require-preflight": "1",
                "content-type": f"multipart/form-data; boundary={boundary}",
            },
        )
        assert response.status_code == 507, response.text
        error = response.json()["errors"][0]
        assert error["extensions"]["code"] == "PAYLOAD_TOO_LARGE" and "The disk filled up" in error["message"]
        deadline = time.monotonic() + 30
        while gql(client, DATASETS, token=token)["data"]["datasets"]["totalCount"] and time.monotonic() < deadline:
            time.sleep(0.2)
        assert gql(client, DATASETS, token=token)["data"]["datasets"]["totalCount"] == 0
        stored = [
            p
            for p in data_dir.rglob("*")
            if p.is_file() and p.suffix in ("", ".part", ".parquet") and p.parent.name != data_dir.name
        ]
        assert stored == [], stored
