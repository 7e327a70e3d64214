"""The CLI installs on its own: `pip install ./client` into a clean virtualenv brings the `assay` command and
`client.AssayClient` without the server's dependencies, and it works against a live server."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.live_server import LiveServer
from tests.support.paths import ROOT

pytestmark = [pytest.mark.slow, pytest.mark.sqlite_only("installs a package; the backends are tested elsewhere")]

SERVER_ONLY = ("services", "server", "pandas", "sklearn", "celery", "duckdb", "skl2onnx", "strawberry")


def test_the_client_installs_alone_and_talks_to_a_server(tmp_path: Path) -> None:
    source = tmp_path / "client-src"
    shutil.copytree(ROOT / "client", source, ignore=shutil.ignore_patterns("__pycache__", "build", "*.egg-info"))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    install = subprocess.run(
        [str(venv / "bin" / "pip"), "install", "--quiet", str(source)], capture_output=True, text=True, timeout=600
    )
    assert install.returncode == 0, install.stderr[-3000:]
    python = str(venv / "bin" / "python")
    env = {key: value for key, value in os.environ.items() if not key.startswith(("ASSAY_", "PYTHON"))}
    clean = tmp_path / "elsewhere"  # not the repository: nothing importable by accident from the working dir
    clean.mkdir()
    probe = (
        "import importlib.util, sys; import client.cli, client.api; "
        f"print([m for m in {SERVER_ONLY!r} if importlib.util.find_spec(m)])"
    )
    found = subprocess.run([python, "-c", probe], capture_output=True, text=True, cwd=clean, env=env, timeout=60)
    assert found.returncode == 0, found.stderr
    assert found.stdout.strip() == "[]"  # the client imports, and none of the server's packages are there

    server = LiveServer(tmp_path / "data").start()
    try:
        assay = [str(venv / "bin" / "assay"), "--url", server.base]
        env.update(ASSAY_CONFIG_DIR=str(tmp_path / "config"), ASSAY_PASSWORD="correct horse battery")
        registered = subprocess.run(
            [*assay, "register", "--email", "cli-alone@example.com"],
            capture_output=True,
            text=True,
            cwd=clean,
            env=env,
            timeout=120,
        )
        assert registered.returncode == 0, registered.stderr
        me = subprocess.run(
            [*assay, "--json", "datasets"], capture_output=True, text=True, cwd=clean, env=env, timeout=120
        )
        assert me.returncode == 0, me.stderr
        assert me.stdout.strip().startswith(("[", "{"))
    finally:
        server.terminate()
