"""The pinned JS tooling in tests/js (graphql-http, graphql-codegen, TypeScript, playwright-core) and
Debian's Chromium, installed when missing so a fresh CI machine runs the same tests."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

from tests.support.paths import JS_DIR

CHROMIUM = Path("/usr/bin/chromium")
STAMP = JS_DIR / "node_modules" / ".assay-lock-sha256"


def ensure_node_modules() -> Path:
    """`npm ci` when node_modules is missing or was installed from another package-lock.json."""
    if shutil.which("npm") is None:
        raise RuntimeError("npm is not installed: the GraphQL-over-HTTP, codegen and GraphiQL tests need Node.js")
    lock = hashlib.sha256((JS_DIR / "package-lock.json").read_bytes()).hexdigest()
    if not STAMP.exists() or STAMP.read_text() != lock:
        subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=JS_DIR,
            check=True,
            timeout=300,
            env={**os.environ, "PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD": "1"},
        )
        STAMP.write_text(lock)
    return JS_DIR


def ensure_chromium() -> Path:
    """Debian's chromium (and chromium-driver, as the project's other browser tests expect), installed as root."""
    if not CHROMIUM.exists():
        install = ["apt-get", "install", "-y", "--no-install-recommends", "chromium", "chromium-driver"]
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        if subprocess.run(install, env=env, timeout=600).returncode != 0:
            subprocess.run(["apt-get", "update"], env=env, check=True, timeout=300)
            subprocess.run(install, env=env, check=True, timeout=600)
    return CHROMIUM


def run_node(script: str, *args: str, timeout: float = 120, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["node", script, *args], cwd=JS_DIR, capture_output=True, text=True, timeout=timeout, env={**os.environ, **env}
    )


def run_bin(name: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """A tool from node_modules/.bin, without npx's registry look-ups."""
    return subprocess.run(
        [str(JS_DIR / "node_modules" / ".bin" / name), *args],
        cwd=JS_DIR,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
