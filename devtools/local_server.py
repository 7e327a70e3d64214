"""What each throwaway server of the tests and `make cluster` needs: a free port on 127.0.0.1, its binary
(installed from Debian's packages when missing and we are root, as on CI), and a wait until it listens."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def debian_binary(binary: str, package: str, missing: type[Exception]) -> str:
    """The binary's path; when it is missing and we are root with apt-get (CI), its package is installed first
    (after refreshing the package list, which is empty on a fresh machine). `missing` if it is still missing."""
    found = shutil.which(binary)
    if not found and shutil.which("apt-get") and os.geteuid() == 0:
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        install = ["apt-get", "install", "-y", "-q", "--no-install-recommends", package]
        for step in (install, ["apt-get", "update", "-q"], install):
            subprocess.run(step, env=env, check=False, capture_output=True)
            found = shutil.which(binary)
            if found:
                break
    if not found:
        raise missing(f"{binary} is not installed: `sudo apt-get install {package}` (Debian/Ubuntu)")
    return found


def is_healthy(base: str, timeout: float = 1) -> bool:
    """Whether the server at `base` answers /health with 200 (False while it is not listening yet)."""
    try:
        return httpx.get(f"{base}/health", timeout=timeout).status_code == 200
    except httpx.HTTPError:
        return False


def wait_until_ready(
    name: str,
    process: subprocess.Popen,
    timeout: float,
    ready: Callable[[], bool],
    *,
    log: Path | None = None,
    error: type[Exception] = RuntimeError,
) -> None:
    """Return once `ready()` says the server called `name` is; `error` if the process ends first (with the tail of
    its log, when given) or the time runs out (then the process is terminated: it must not outlive its caller)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = log.read_text(errors="replace")[-2000:] if log is not None and log.exists() else ""
            raise error(f"{name} exited with code {process.returncode}:\n{tail}")
        if ready():
            return
        time.sleep(0.05)
    process.terminate()
    raise error(f"{name} was not ready within {timeout:g} s")


def listening(port: int) -> Callable[[], bool]:
    """A readiness check: 127.0.0.1:`port` accepts a connection."""

    def check() -> bool:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            return False

    return check


def stop_process(process: subprocess.Popen | None, timeout: float = 10) -> None:
    """SIGTERM, and SIGKILL if it has not ended within `timeout` seconds."""
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)
