"""`python -m devtools.cluster` (`make cluster`): a whole scaled-out Assay on one machine, for trying it.

PostgreSQL and Redis from the machine's binaries (in temp dirs, on free ports), 2 replicas on
8000 and 8001, 2 Celery workers, one data directory. Ctrl-C stops everything it started. The
tests and bench/cluster.py drive the same `Cluster` with other sizes and ports.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

from devtools.local_server import free_port, is_healthy
from devtools.redis_local import LocalRedis

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Member:
    """One replica or worker process; its output goes to a file (a pipe could fill and block it)."""

    name: str
    args: list[str]
    env: dict[str, str]
    log_path: Path
    port: int | None = None
    process: subprocess.Popen | None = None
    metrics_port: int | None = None  # a worker's /metrics (server/metrics.py)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Member:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, *self.args],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    def wait_healthy(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited ({self.process.returncode}):\n{self.output()[-3000:]}")
            if self.port is None:
                if "ready:" in self.output():
                    return
            else:
                if is_healthy(self.base, timeout=2):
                    return
            time.sleep(0.2)
        raise RuntimeError(f"{self.name} did not become ready in {timeout:g} s:\n{self.output()[-3000:]}")

    def kill(self) -> None:
        """SIGKILL, as a crash: no shutdown code runs (its job processes are left to notice)."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self, timeout: float = 20) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)

    def output(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


@dataclass
class Cluster:
    directory: Path
    replica_ports: list[int] = field(default_factory=lambda: [free_port(), free_port()])
    workers: int = 2
    worker_concurrency: int = 1
    use_postgres: bool = True
    env: dict[str, str] = field(default_factory=dict)
    members: list[Member] = field(default_factory=list)
    # Each member its own data dir (as on separate machines), for ASSAY_STORAGE_URL=s3://: they share only
    # the database, Redis and the bucket.
    separate_data_dirs: bool = False

    def __post_init__(self) -> None:
        self._stack = ExitStack()

    @property
    def replicas(self) -> list[Member]:
        return [m for m in self.members if m.port is not None]

    @property
    def worker_members(self) -> list[Member]:
        return [m for m in self.members if m.port is None]

    def start(self) -> Cluster:
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        (self.directory / "data").mkdir(parents=True, exist_ok=True)
        redis = self._stack.enter_context(LocalRedis(directory=self.directory / "redis"))
        self.redis_url = redis.url
        self.database_url = self._database_url()
        self.base_env = {
            **os.environ,
            "ASSAY_DATA_DIR": str(self.directory / "data"),
            "ASSAY_REDIS_URL": redis.url,
            "ASSAY_EXECUTOR": "celery",
            "ASSAY_DATABASE_URL": self.database_url,
            "ASSAY_SECRET_KEY": os.environ.get("ASSAY_SECRET_KEY", "cluster-secret-key-long-enough-for-hs256"),
            **self.env,
        }
        first = self.add_replica(self.replica_ports[0])  # migrates the empty database before the others start
        first.wait_healthy()
        for port in self.replica_ports[1:]:
            self.add_replica(port)
        for index in range(self.workers):
            self.add_worker(f"worker{index + 1}")
        for member in self.members:
            member.wait_healthy()

    def _database_url(self) -> str:
        if self.use_postgres:
            try:
                from devtools.postgres_local import LocalPostgres  # from the PostgreSQL profile's branch
            except ImportError:
                pass
            else:
                postgres = LocalPostgres()
                postgres.start()
                self._stack.callback(postgres.stop)
                return postgres.create_database("assay")
        return f"sqlite+aiosqlite:///{self.directory / 'data' / 'assay.db'}"  # WAL: shared by the processes

    def add_replica(self, port: int) -> Member:
        member = Member(
            f"replica:{port}",
            ["-m", "server"],
            {**self.base_env, "ASSAY_PORT": str(port), **self._data_dir_of(f"replica-{port}")},
            self.directory / f"replica-{port}.log",
            port=port,
        )
        self.members.append(member.start())
        return member

    def add_worker(self, name: str) -> Member:
        metrics_port = free_port()  # several workers on one machine: each its own metrics port
        env = {
            "ASSAY_WORKER_METRICS_PORT": str(metrics_port),
            **self.base_env,
            "ASSAY_WORKER_NAME": name,
            "ASSAY_WORKER_CONCURRENCY": str(self.worker_concurrency),
            **self._data_dir_of(name),
        }
        member = Member(
            name,
            ["-m", "server.worker"],
            env,
            self.directory / f"{name}.log",
            metrics_port=int(env["ASSAY_WORKER_METRICS_PORT"]),
        )
        self.members.append(member.start())
        return member

    def _data_dir_of(self, name: str) -> dict[str, str]:
        return {"ASSAY_DATA_DIR": str(self.directory / f"data-{name}")} if self.separate_data_dirs else {}

    def stop(self) -> None:
        """Replicas and workers stop together (each finishes what it must), then Redis and the database."""
        for member in self.members:
            if member.process and member.process.poll() is None:
                member.process.send_signal(signal.SIGTERM)
        for member in self.members:
            member.stop()
        self._stack.close()

    def __enter__(self) -> Cluster:
        return self.start()

    def __exit__(self, *_exc) -> None:
        self.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ports", default="8000,8001", help="replica ports")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--data-dir", type=Path, default=None, help="kept after exit when given")
    arguments = parser.parse_args()
    directory = arguments.data_dir or Path(tempfile.mkdtemp(prefix="assay-cluster-"))
    cluster = Cluster(
        directory.resolve(),
        replica_ports=[int(p) for p in arguments.ports.split(",")],
        workers=arguments.workers,
        worker_concurrency=int(os.environ.get("ASSAY_WORKER_CONCURRENCY", "1")),
    )
    print(
        f"Starting Redis, the database, {len(cluster.replica_ports)} replicas and {cluster.workers} workers "
        f"in {directory} ...",
        flush=True,
    )
    try:
        cluster.start()
    except Exception as exc:  # noqa: BLE001 - the message says what is missing
        raise SystemExit(f"assay cluster: {exc}") from None
    print(f"Redis {cluster.redis_url}\nDatabase {cluster.database_url}")
    for replica in cluster.replicas:
        print(f"Replica {replica.base}/graphql (log {replica.log_path})")
    for worker in cluster.worker_members:
        print(f"Worker {worker.name} (log {worker.log_path})")
    print("Ctrl-C stops everything.", flush=True)
    try:
        while all(m.process.poll() is None for m in cluster.members if m.process):
            time.sleep(1)
        print("A member exited; stopping the cluster.")
    except KeyboardInterrupt:
        print("\nStopping ...")
    finally:
        cluster.stop()


if __name__ == "__main__":
    main()
