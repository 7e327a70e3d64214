"""The generated secret key: replicas and workers starting together on one data dir must agree on it."""

from __future__ import annotations

import stat
import subprocess
import sys
import time

import pytest

# Each process imports first, then all read the key at the same instant (argv[2], wall clock), so they race.
READ_KEY = (
    "import sys, time\nfrom pathlib import Path\nfrom server.settings import Settings\n"
    "settings = Settings(data_dir=Path(sys.argv[1]), secret_key=None)\n"
    "time.sleep(max(0.0, float(sys.argv[2]) - time.time()))\nprint(settings.resolved_secret_key)\n"
)


@pytest.mark.slow  # eight processes importing the settings, started together: ~10 s of CPU (docs/testing.md)
@pytest.mark.sqlite_only("a file in the data dir; no database involved")
def test_processes_starting_together_generate_one_key(tmp_path, monkeypatch):
    monkeypatch.delenv("ASSAY_SECRET_KEY", raising=False)
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    at = str(time.time() + 4)
    starts = [
        subprocess.Popen([sys.executable, "-c", READ_KEY, str(data_dir), at], stdout=subprocess.PIPE, text=True)
        for _ in range(8)
    ]
    keys = {process.communicate(timeout=60)[0].strip() for process in starts}
    assert len(keys) == 1 and len(keys.pop()) >= 48
    key_file = data_dir / "secret.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert [p.name for p in data_dir.iterdir()] == ["secret.key"]  # no candidate left behind
