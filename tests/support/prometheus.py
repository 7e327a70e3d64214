"""A throwaway Prometheus server for the metrics tests: Debian's `prometheus` binary, a generated config,
a free 127.0.0.1 port and a temp dir, stopped and removed afterwards. Installed from Debian's packages
when missing and we are root (CI), like devtools/redis_local.py does for redis-server.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from devtools.local_server import debian_binary, free_port, stop_process, wait_until_ready


class PrometheusUnavailable(RuntimeError):
    pass


def ensure_prometheus() -> str:
    return debian_binary("prometheus", "prometheus", PrometheusUnavailable)


@dataclass
class ScrapeJob:
    name: str
    targets: list[str]  # host:port
    bearer_token: str | None = None


@dataclass
class LocalPrometheus:
    jobs: list[ScrapeJob]
    scrape_interval: str = "1s"
    port: int = field(default_factory=free_port)

    def __post_init__(self) -> None:
        self.directory = Path(tempfile.mkdtemp(prefix="assay-prometheus-"))
        self.process: subprocess.Popen | None = None
        self.base = f"http://127.0.0.1:{self.port}"

    def config(self) -> dict:
        jobs = []
        for job in self.jobs:
            entry: dict = {
                "job_name": job.name,
                "metrics_path": "/metrics",
                "static_configs": [{"targets": job.targets}],
            }
            if job.bearer_token:
                entry["authorization"] = {"type": "Bearer", "credentials": job.bearer_token}
            jobs.append(entry)
        return {
            "global": {"scrape_interval": self.scrape_interval, "scrape_timeout": self.scrape_interval},
            "scrape_configs": jobs,
        }

    def start(self) -> LocalPrometheus:
        binary = ensure_prometheus()
        config = self.directory / "prometheus.yml"
        config.write_text(json.dumps(self.config()))  # JSON is YAML
        self.log_path = self.directory / "prometheus.log"
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    binary,
                    f"--config.file={config}",
                    f"--storage.tsdb.path={self.directory / 'data'}",
                    f"--web.listen-address=127.0.0.1:{self.port}",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        try:
            wait_until_ready(
                "prometheus", self.process, 60, self._ready, log=self.log_path, error=PrometheusUnavailable
            )
        except PrometheusUnavailable:
            self.stop()
            raise
        return self

    def _ready(self) -> bool:
        try:
            return httpx.get(f"{self.base}/-/ready", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def query(self, promql: str) -> list[dict]:
        """An instant query through the HTTP API: the result vector (each with `metric` labels and `value`)."""
        body = httpx.get(f"{self.base}/api/v1/query", params={"query": promql}, timeout=10).json()
        assert body["status"] == "success", body
        return body["data"]["result"]

    def value(self, promql: str) -> float | None:
        result = self.query(promql)
        return float(result[0]["value"][1]) if result else None

    def wait_for_value(self, promql: str, expected: float, timeout: float = 30) -> float | None:
        """Poll until the query answers `expected` (scrapes arrive every interval); returns the last answer."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.value(promql)
            if found == expected or time.monotonic() > deadline:
                return found
            time.sleep(0.5)

    def wait_for_some_value(self, promql: str, timeout: float = 30) -> float | None:
        """Poll until the query answers at all: a rate() needs two scrapes of the series before it has one."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.value(promql)
            if found is not None or time.monotonic() > deadline:
                return found
            time.sleep(0.5)

    def targets(self) -> list[dict]:
        return httpx.get(f"{self.base}/api/v1/targets", timeout=10).json()["data"]["activeTargets"]

    def target_health(self, timeout: float = 60) -> dict[str, str]:
        """Each scrape job's health once every target has been scraped at least once. Prometheus reports
        "unknown" until its first scrape, which can come several seconds after /-/ready (target discovery
        is throttled to one update per 5 s), so a fast test would otherwise read "unknown"."""
        deadline = time.monotonic() + timeout
        while True:
            health = {target["labels"]["job"]: target["health"] for target in self.targets()}
            if (health and "unknown" not in health.values()) or time.monotonic() > deadline:
                return health
            time.sleep(0.5)

    def stop(self) -> None:
        stop_process(self.process, timeout=15)
        shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> LocalPrometheus:
        return self.start()

    def __exit__(self, *_exc) -> None:
        self.stop()
