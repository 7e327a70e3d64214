"""What each throwaway server of the tests and `make cluster` needs: a free port on 127.0.0.1, its binary
(installed from Debian's packages when missing and we are root, as on CI), and a wait until it listens."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
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


def wait_until_listening(
    name: str, port: int, process: subprocess.Popen, timeout: float, log: Path | None = None
) -> None:
    """Return once 127.0.0.1:`port` accepts a connection; RuntimeError if the process (the server called
    `name`) ends first, with the tail of its log when given, or if the time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = log.read_text(errors="replace")[-2000:] if log is not None and log.exists() else ""
            raise RuntimeError(f"{name} exited with code {process.returncode}:\n{tail}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{name} did not listen on port {port} within {timeout} s")
