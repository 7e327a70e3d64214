"""A real S3-speaking server for the tests: moto's server mode in its own process on a free port.

Not an in-process mock: the product talks HTTP to it with boto3, as it would to MinIO or AWS.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

from devtools.local_server import free_port, listening, wait_until_ready

CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "assay-test",
    "AWS_SECRET_ACCESS_KEY": "assay-test-secret",
    "AWS_REGION": "us-east-1",
}


class LocalS3:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.bucket = "assay-test"
        self.process: subprocess.Popen | None = None

    @property
    def environment(self) -> dict[str, str]:
        """The standard AWS variables a process needs to reach this server."""
        return {**CREDENTIALS, "AWS_ENDPOINT_URL": self.endpoint}

    def start(self) -> LocalS3:
        log = (self.directory / "moto.log").open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.directory,
            env={**os.environ, **self.environment},
        )
        wait_until_ready("moto server", self.process, 30, listening(self.port), log=self.directory / "moto.log")
        self.client().create_bucket(Bucket=self.bucket)
        return self

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)

    def client(self):
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name=CREDENTIALS["AWS_REGION"],
            aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        )

    def new_prefix(self) -> str:
        """A storage URL of its own for one test: tests share the server, never each other's objects."""
        return f"s3://{self.bucket}/test-{uuid.uuid4().hex[:12]}"

    def keys(self, url: str) -> list[str]:
        prefix = url.split("/", 3)[3] + "/"
        pages = self.client().get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix)
        return sorted(item["Key"][len(prefix) :] for page in pages for item in page.get("Contents", []))

    def incomplete_uploads(self, url: str) -> list[str]:
        prefix = url.split("/", 3)[3] + "/"
        answer = self.client().list_multipart_uploads(Bucket=self.bucket, Prefix=prefix)
        return [upload["Key"] for upload in answer.get("Uploads", [])]
