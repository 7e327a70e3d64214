"""compose.yaml describes the scaled-out deployment: PostgreSQL, Redis, 2 replicas, 2 workers, one data volume.

No registry is reachable here to pull postgres/redis, so the file is checked as compose would read it
(YAML merge keys resolved), not run.
"""

from __future__ import annotations

import yaml

from tests.support.paths import ROOT

COMPOSE = yaml.safe_load((ROOT / "compose.yaml").read_text())
SERVICES = COMPOSE["services"]
ASSAY = {name: service for name, service in SERVICES.items() if "ASSAY_DATA_DIR" in service.get("environment", {})}


def replicas(service: dict) -> int:
    return service.get("deploy", {}).get("replicas", 1)


def test_two_server_replicas_and_two_workers_run_the_one_image_against_postgres_and_redis():
    servers = [s for s in ASSAY.values() if "command" not in s]
    workers = [s for s in ASSAY.values() if s.get("command") == ["python", "-m", "server.worker"]]
    assert sum(map(replicas, servers)) == 2 and sum(map(replicas, workers)) == 2
    assert {s["image"] for s in ASSAY.values()} == {"${ASSAY_IMAGE:-assay:latest}"}
    assert SERVICES["postgres"]["image"].endswith("postgres:15}") and SERVICES["redis"]["image"].endswith("redis:7}")
    for service in ASSAY.values():
        env = service["environment"]
        assert (
            env["ASSAY_DATABASE_URL"].startswith("postgresql+asyncpg://")
            and "@postgres:5432/" in env["ASSAY_DATABASE_URL"]
        )
        assert env["ASSAY_REDIS_URL"] == "redis://redis:6379/0" and env["ASSAY_EXECUTOR"] == "celery"
        assert set(service["depends_on"]) == {"postgres", "redis"}


def test_every_replica_and_worker_shares_one_data_volume_and_one_secret_key():
    assert {tuple(s["volumes"]) for s in ASSAY.values()} == {("assay-data:/data",)}
    assert "assay-data" in COMPOSE["volumes"]
    assert len({s["environment"]["ASSAY_SECRET_KEY"] for s in ASSAY.values()}) == 1
    assert all(s["environment"]["ASSAY_DATA_DIR"] == "/data" for s in ASSAY.values())


def test_the_replicas_publish_different_ports_and_nothing_uses_the_host_network():
    published = [port.rsplit(":", 2)[-2] for s in ASSAY.values() for port in s.get("ports", [])]
    assert sorted(published) == ["8000", "8001"]
    assert not any("network_mode" in service for service in SERVICES.values())


def test_workers_have_their_own_health_check():
    """The image's HEALTHCHECK asks /health, which a worker does not serve: workers check their Redis record."""
    workers = [s for s in ASSAY.values() if s.get("command") == ["python", "-m", "server.worker"]]
    assert workers and all(
        w["healthcheck"]["test"] == ["CMD", "python", "-m", "server.worker", "--health"] for w in workers
    )
