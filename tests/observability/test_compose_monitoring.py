"""compose.yaml's optional Prometheus: a valid scrape config (checked by Debian's promtool) that reaches
every replica and worker on compose's network, with the metrics token."""

from __future__ import annotations

import subprocess

import yaml

from tests.support.paths import ROOT
from tests.support.prometheus import ensure_prometheus

COMPOSE = yaml.safe_load((ROOT / "compose.yaml").read_text())
SERVICES = COMPOSE["services"]


def scrape_config(token: str) -> dict:
    """The config compose would mount, with ASSAY_METRICS_TOKEN interpolated as compose does."""
    content = COMPOSE["configs"]["prometheus-config"]["content"].replace("${ASSAY_METRICS_TOKEN:-}", token)
    return yaml.safe_load(content)


def test_prometheus_is_an_optional_profile_scraping_replicas_and_workers_with_the_token():
    prometheus = SERVICES["prometheus"]
    assert prometheus["profiles"] == ["monitoring"]  # plain `docker compose up` starts no Prometheus
    config = scrape_config("a-token")
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    replicas = [
        name for name, s in SERVICES.items() if "ASSAY_DATA_DIR" in s.get("environment", {}) and "command" not in s
    ]
    assert sorted(jobs["assay-replicas"]["static_configs"][0]["targets"]) == sorted(f"{r}:8000" for r in replicas)
    worker = SERVICES["worker"]["environment"]
    assert worker["ASSAY_WORKER_METRICS_HOST"] == "0.0.0.0"  # noqa: S104 - in its container
    assert jobs["assay-workers"]["dns_sd_configs"][0] == {
        "names": ["worker"],
        "type": "A",
        "port": worker["ASSAY_WORKER_METRICS_PORT"],
    }
    assert all(job["authorization"]["credentials"] == "a-token" for job in jobs.values())
    assert all(
        s["environment"]["ASSAY_METRICS_TOKEN"] == "${ASSAY_METRICS_TOKEN:-}"
        for name, s in SERVICES.items()
        if "ASSAY_DATA_DIR" in s.get("environment", {})
    )


def test_promtool_accepts_the_scrape_config(tmp_path):
    ensure_prometheus()  # promtool comes in the same Debian package
    path = tmp_path / "prometheus.yml"
    path.write_text(yaml.safe_dump(scrape_config("a-token")))
    checked = subprocess.run(["promtool", "check", "config", str(path)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
