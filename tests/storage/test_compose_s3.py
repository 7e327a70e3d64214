"""compose.yaml's optional `s3` profile: MinIO and its bucket, and every replica and worker given the store's
settings."""

from __future__ import annotations

from tests.deployment.test_compose import ASSAY, SERVICES


def test_the_s3_profile_runs_minio_and_creates_the_bucket_of_the_storage_url():
    assert SERVICES["minio"]["profiles"] == ["s3"] and SERVICES["minio"]["image"].startswith(
        "${MINIO_IMAGE:-minio/minio:"
    )
    assert SERVICES["minio-bucket"]["profiles"] == ["s3"]
    assert SERVICES["minio-bucket"]["depends_on"]["minio"]["condition"] == "service_healthy"
    assert "mc mb --ignore-existing" in SERVICES["minio-bucket"]["command"][0]


def test_every_replica_and_worker_reads_the_storage_url_and_the_standard_aws_variables():
    for service in ASSAY.values():
        env = service["environment"]
        assert env["ASSAY_STORAGE_URL"] == "${ASSAY_STORAGE_URL:-}"  # unset: the data volume keeps the files, as before
        assert {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION", "AWS_ENDPOINT_URL"} <= set(env)
