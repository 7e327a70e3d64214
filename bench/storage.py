"""Object storage: which S3 client, and what ASSAY_STORAGE_URL=s3:// costs an ingest, in one run.

1. Clients against one S3 server (moto's server mode, a local process): multipart upload of a
   FILE_MB file (16 MB parts, 4 at a time where the client allows) with boto3, pyarrow's
   S3FileSystem and obstore; and reading one column of one row group of a 1M x 20 Parquet file:
   pyarrow's S3FileSystem (range reads of the footer and that column chunk) against fetching the
   whole object (boto3, obstore) and reading it locally.
2. Upload + ingest of 1M x 20 mixed columns through a running server, start of the upload to READY:
   the data dir (the anchor) against ASSAY_STORAGE_URL=s3://… on the same moto server (the
   original and the Parquet copy are uploaded to it before the job is SUCCEEDED).

moto is a Python server: its own speed bounds every S3 figure here, as a real store's network would.

Usage: .venv/bin/python bench/storage.py [ROWS] [FILE_MB]
"""

from __future__ import annotations

import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import pyarrow.parquet as pq
from calibrate import machine_line
from datagen import mixed_table, write_mixed_csv
from harness import gql, register, running_server, upload_file, wait_for_job_over_websocket

from tests.support.s3_server import LocalS3

PART = 16 * 1024 * 1024
REPEATS = 3
READY = "query($id: ID!) { dataset(id: $id) { status rowCount } }"


def timed(function, repeats: int = REPEATS) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def clients(s3: LocalS3, big: Path, parquet: Path) -> list[tuple[str, str, float]]:
    import obstore
    from boto3.s3.transfer import TransferConfig
    from obstore.store import S3Store
    from pyarrow import fs

    boto = s3.client()
    arrow = fs.S3FileSystem(
        endpoint_override=s3.endpoint,
        access_key=s3.environment["AWS_ACCESS_KEY_ID"],
        secret_key=s3.environment["AWS_SECRET_ACCESS_KEY"],
        region="us-east-1",
        scheme="http",
    )
    store = S3Store(
        s3.bucket,
        endpoint=s3.endpoint,
        access_key_id=s3.environment["AWS_ACCESS_KEY_ID"],
        secret_access_key=s3.environment["AWS_SECRET_ACCESS_KEY"],
        region="us-east-1",
        client_options={"allow_http": True},
    )
    config = TransferConfig(multipart_threshold=PART, multipart_chunksize=PART, max_concurrency=4)
    size_mb = big.stat().st_size / 1048576
    rows: list[tuple[str, str, float]] = []

    def arrow_upload() -> None:
        with big.open("rb") as source, arrow.open_output_stream(f"{s3.bucket}/bench/arrow.bin") as out:
            while chunk := source.read(PART):
                out.write(chunk)

    for name, upload in (
        ("boto3 upload_file", lambda: boto.upload_file(str(big), s3.bucket, "bench/boto.bin", Config=config)),
        ("pyarrow S3FileSystem output stream", arrow_upload),
        (
            "obstore put (multipart)",
            lambda: obstore.put(store, "bench/obstore.bin", big, chunk_size=PART, max_concurrency=4),
        ),
    ):
        seconds = timed(upload)
        rows.append(("multipart upload", name, size_mb / seconds))

    boto.upload_file(str(parquet), s3.bucket, "bench/table.parquet", Config=config)
    column = pq.ParquetFile(parquet).schema_arrow.names[1]

    def arrow_range() -> None:
        with arrow.open_input_file(f"{s3.bucket}/bench/table.parquet") as handle:
            pq.ParquetFile(handle).read_row_group(0, columns=[column])

    def whole(fetch) -> None:
        with tempfile.NamedTemporaryFile(suffix=".parquet") as local:
            fetch(local.name)
            pq.ParquetFile(local.name).read_row_group(0, columns=[column])

    def obstore_whole(path: str) -> None:
        Path(path).write_bytes(bytes(obstore.get(store, "bench/table.parquet").bytes()))

    def boto_stream(path: str) -> None:  # what services/storage/objects.py does
        body = boto.get_object(Bucket=s3.bucket, Key="bench/table.parquet")["Body"]
        with open(path, "wb") as out:
            shutil.copyfileobj(body, out, 8 * 1024 * 1024)

    for name, read in (
        ("pyarrow S3FileSystem range reads", arrow_range),
        (
            "boto3 download_file (parallel ranges), then local",
            lambda: whole(lambda p: boto.download_file(s3.bucket, "bench/table.parquet", p)),
        ),
        ("boto3 get_object (one streamed GET), then local", lambda: whole(boto_stream)),
        ("obstore whole object, then local", lambda: whole(obstore_whole)),
    ):
        rows.append(("one column of one row group", name, timed(read) * 1000))
    return rows


def ingest_seconds(base: str, csv: Path) -> tuple[float, int]:
    token = register(base)
    started = time.perf_counter()
    payload = upload_file(base, token, csv)
    wait_for_job_over_websocket(base, token, payload["job"]["id"])
    elapsed = time.perf_counter() - started
    dataset = gql(base, READY, {"id": payload["dataset"]["id"]}, token)["data"]["dataset"]
    assert dataset["status"] == "READY", dataset
    return elapsed, dataset["rowCount"]


def main() -> None:
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    file_mb = int(sys.argv[2]) if len(sys.argv) > 2 else 128
    print(machine_line())
    with tempfile.TemporaryDirectory(prefix="assay-bench-s3-") as folder:
        work = Path(folder)
        s3 = LocalS3(work).start()
        try:
            big = work / "big.bin"
            big.write_bytes(os.urandom(file_mb * 1048576))
            parquet = work / "table.parquet"
            pq.write_table(mixed_table(1_000_000), parquet, row_group_size=131072, compression="zstd")
            print(
                f"\nClients against moto's server ({file_mb} MB file; Parquet "
                f"{parquet.stat().st_size / 1048576:.0f} MB, "
                f"1M x 20, row groups of 131,072; median of {REPEATS})\n"
            )
            print("| measure | client | result |\n| --- | --- | --- |")
            for measure, name, value in clients(s3, big, parquet):
                unit = "MB/s" if measure == "multipart upload" else "ms"
                print(f"| {measure} | {name} | {value:,.1f} {unit} |")
            big.unlink()

            csv = write_mixed_csv(work / "mixed.csv", rows)
            print(
                f"\nUpload + ingest of {rows:,} x 20 ({csv.stat().st_size / 1048576:.0f} MB CSV), upload start to "
                "READY\n"
            )
            print("| files kept in | seconds | vs data dir |\n| --- | --- | --- |")
            with running_server() as (base, _):
                local, count = ingest_seconds(base, csv)
            assert count == rows
            print(f"| the data dir (anchor) | {local:.2f} | 1.00x |")
            env = {**s3.environment, "ASSAY_STORAGE_URL": f"s3://{s3.bucket}/bench-ingest"}
            with running_server(**env) as (base, _):
                remote, count = ingest_seconds(base, csv)
            assert count == rows
            print(f"| s3:// (moto on this machine) | {remote:.2f} | {remote / local:.2f}x |")
        finally:
            s3.stop()


if __name__ == "__main__":
    main()
