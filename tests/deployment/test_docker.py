"""The Docker image, built here without a registry or network, serves health and an upload as a non-root user.

A private dockerd (tests/support/docker_engine.py) builds a Debian bookworm base with debootstrap, then the
repo's Dockerfile on it from a wheelhouse made on this machine, with the build's network off; the
container runs on the host's network (never a bridge) on a free port. Skipped, with dockerd's reason,
where no engine can start. About 5 minutes on 2 busy cores: docker build (pip installing the wheels)
and debootstrap are most of it.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.support.docker_engine import (
    ROOT,
    DockerEngine,
    EngineUnavailable,
    build_base_image,
    build_wheelhouse,
    check_host_python,
    debian_mirror,
    install_missing_packages,
    scratch_dir,
)
from tests.support.live_server import LiveServer

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(1200),
    pytest.mark.sqlite_only("the container runs its own embedded store; the host's database is not under test"),
]
BASE_IMAGE = "assay-base:bookworm"
IMAGE = "assay:test"
REGISTER = 'mutation { register(input: {email: "docker@example.com", password: "docker test pw"}) { accessToken } }'
DATASET = "query($id: ID!) { dataset(id: $id) { status rowCount columns { name semanticType } } }"


@contextmanager
def phase(name: str) -> Iterator[None]:
    """Print how long each step takes (shown with -s): the test's CI time is mostly debootstrap and pip."""
    started = time.monotonic()
    yield
    print(f"\ndocker test: {name} took {time.monotonic() - started:.0f} s", flush=True)


@pytest.fixture(scope="module")
def engine() -> Iterator[DockerEngine]:
    try:
        install_missing_packages()
    except EngineUnavailable as refused:
        pytest.skip(str(refused))
    engine = DockerEngine(scratch_dir("assay-docker-"))
    try:
        with phase("starting dockerd"):
            engine.start()
        print(f"docker test: storage driver {engine.storage_driver} in {engine.root}")
    except EngineUnavailable as refused:
        engine.stop()
        pytest.skip(f"no Docker engine can run here: {refused}")
    yield engine
    engine.stop()


@pytest.fixture(scope="module")
def image(engine: DockerEngine) -> str:
    try:
        check_host_python()
    except EngineUnavailable as refused:
        pytest.skip(str(refused))
    context = engine.root / "context"
    with phase("debootstrap and import of the base, pip wheel beside it"), ThreadPoolExecutor(1) as beside:
        base = beside.submit(build_base_image, engine, BASE_IMAGE, engine.root)  # dpkg's I/O, pip's network
        build_wheelhouse(context / "wheelhouse")
        base.result()
    for name in ("Dockerfile", ".dockerignore"):
        shutil.copy2(ROOT / name, context / name)
    try:  # --network none: the build needs no network at all
        with phase("docker build"):
            engine.docker(
                "build",
                "--network",
                "none",
                "--build-arg",
                f"BASE={BASE_IMAGE}",
                "--tag",
                IMAGE,
                str(context),
                timeout=1200,
            )
    finally:
        shutil.rmtree(context, ignore_errors=True)
    size = int(engine.docker("image", "inspect", "--format", "{{.Size}}", IMAGE))
    print(f"docker test: image {size / 2**20:.0f} MiB")
    return IMAGE


class ContainerServer(LiveServer):
    """`python -m server` in the image on the host's network: the same client calls as a LiveServer."""

    def __init__(self, engine: DockerEngine, image: str, workdir: Path) -> None:
        super().__init__(workdir / "data")  # picks the free port; the data dir is the container's /data volume
        self.engine, self.image, self.name = engine, image, f"assay-test-{self.port}"

    def start(self) -> ContainerServer:
        env = {
            "ASSAY_HOST": "127.0.0.1",
            "ASSAY_PORT": str(self.port),
            "ASSAY_SECRET_KEY": "docker-test-secret-key-long-enough",
        }
        if "ASSAY_DATABASE_URL" in self.env:  # the test's PostgreSQL listens on 127.0.0.1: the host network reaches it
            env["ASSAY_DATABASE_URL"] = self.env["ASSAY_DATABASE_URL"]
        self.engine.docker(
            "run",
            "--detach",
            "--name",
            self.name,
            "--network",
            "host",
            "--health-interval",
            "1s",  # the image's HEALTHCHECK command, checked sooner than 15 s
            *(f"--env={name}={value}" for name, value in env.items()),
            self.image,
        )
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.base}/health", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                if self.inspect("{{.State.Running}}") != "true":
                    break
                time.sleep(0.3)
        raise RuntimeError(f"the container did not serve /health: {self.output()[-3000:]}")

    def inspect(self, template: str) -> str:
        return self.engine.docker("inspect", "--format", template, self.name)

    def exec(self, *command: str) -> str:
        return self.engine.docker("exec", self.name, *command)

    def output(self) -> str:
        return self.engine.docker("logs", self.name)

    def terminate(self) -> int:
        self.engine.docker("stop", "--time", "20", self.name, timeout=60)
        return int(self.inspect("{{.State.ExitCode}}"))


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_the_image_runs_as_a_non_root_user_with_a_health_check_and_no_build_leftovers(engine, image):
    config = json.loads(engine.docker("image", "inspect", "--format", "{{json .Config}}", image))
    assert config["User"] == "assay"
    assert "/health" in " ".join(config["Healthcheck"]["Test"])
    assert list(config["Volumes"]) == ["/data"]
    assert config["Cmd"] == ["python", "-m", "server"]
    listing = engine.docker("run", "--rm", "--network", "none", image, "sh", "-c", "id -u; ls /wheels 2>&1; true")
    uid, *rest = listing.splitlines()
    assert uid != "0"
    assert "No such file" in rest[0]  # the wheelhouse stayed in the build stage


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_the_container_serves_health_and_ingests_an_upload_on_the_host_network(
    engine, image, tmp_path, database_backend
):
    server = ContainerServer(engine, image, tmp_path).start()
    try:
        health = httpx.get(f"{server.base}/health", timeout=5).json()
        assert health["status"] == "ok" and health["database"] is True

        token = server.gql(REGISTER)["data"]["register"]["accessToken"]
        upload = server.upload(token, b"city,temp\nOslo,-3.5\nRome,14.25\nLima,19\n", "weather.csv")
        assert upload["errors"] == []
        job = server.wait_for(token, upload["job"]["id"], ("SUCCEEDED", "FAILED", "CANCELLED"), timeout=120)
        assert job["status"] == "SUCCEEDED", job
        dataset = server.gql(DATASET, {"id": upload["dataset"]["id"]}, token)["data"]["dataset"]
        assert dataset["status"] == "READY" and dataset["rowCount"] == 3
        assert [column["semanticType"] for column in dataset["columns"]][1] == "NUMERIC"

        uid = server.exec("id", "-u")
        assert uid != "0"
        sqlite_file = server.exec("sh", "-c", "test -e /data/assay.db && echo present || echo absent")
        assert sqlite_file == ("present" if database_backend == "sqlite" else "absent")  # the backend under test
        owners = set(server.exec("find", "/data", "-type", "f", "-printf", "%u\n").split())
        assert owners == {"assay"}  # the upload, its Parquet copy (and SQLite database): the non-root user's
        assert any(mount["Destination"] == "/data" for mount in json.loads(server.inspect("{{json .Mounts}}")))

        deadline = time.monotonic() + 60
        while server.inspect("{{.State.Health.Status}}") != "healthy" and time.monotonic() < deadline:
            time.sleep(0.5)
        assert server.inspect("{{.State.Health.Status}}") == "healthy"
        last_check = json.loads(server.inspect("{{json .State.Health.Log}}"))[-1]
        assert last_check["ExitCode"] == 0
        check = json.loads(server.inspect("{{json .Config.Healthcheck.Test}}"))
        assert check[0] == "CMD"
        with pytest.raises(RuntimeError):  # the same check against a port where nothing answers fails
            engine.docker("exec", "--env", "ASSAY_PORT=9", server.name, *check[1:])
    finally:
        exit_code = server.terminate()
        engine.docker("rm", "--volumes", server.name)
    assert exit_code == 0  # SIGTERM: uvicorn shuts down cleanly as PID 1


def test_the_base_comes_from_the_mirror_apt_uses_in_either_sources_format(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("apt")  # not tmp_path: a pure function needs no run per database backend
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list.d" / "debian.sources").write_text(
        "Types: deb\nURIs: http://mirror.example/debian-security\nSuites: bookworm-security\n\n"
        "Types: deb\nURIs: http://mirror.example/debian\nSuites: bookworm bookworm-updates\nComponents: main\n"
    )
    assert debian_mirror(tmp_path) == "http://mirror.example/debian"
    (tmp_path / "sources.list").write_text(
        "deb https://packages.example/apt cloud-sdk-bookworm main\n"
        "deb [arch=amd64] http://old.example/debian bookworm main\n"
    )
    assert debian_mirror(tmp_path) == "http://old.example/debian"  # sources.list is read first, as apt lists it
    (tmp_path / "sources.list").unlink()
    (tmp_path / "sources.list.d" / "debian.sources").unlink()
    assert debian_mirror(tmp_path) == "http://deb.debian.org/debian"
