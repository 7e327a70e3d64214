"""`assay compare REFERENCE CURRENT` as a user runs it: a subprocess against a real server on a port."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.client.test_cli import Cli, registered
from tests.comparison.test_comparison import frames
from tests.support.settings import make_settings
from tests.support.threaded_server import ThreadedServer

pytestmark = pytest.mark.sqlite_only("the client is tested against one server; the backends are tested elsewhere")


@pytest.fixture(scope="module")
def terminal(tmp_path_factory: pytest.TempPathFactory):
    live = ThreadedServer(make_settings(tmp_path_factory.mktemp("compare-cli"))).start()
    try:
        yield registered(live, tmp_path_factory.mktemp("home"))
    finally:
        live.stop()


def test_compare_prints_the_verdict_the_drifted_columns_and_the_report(terminal: Cli, tmp_path: Path):
    reference, current = frames(rows=600)
    reference.to_csv(tmp_path / "jan.csv", index=False)
    current.to_csv(tmp_path / "feb.csv", index=False)
    jan = terminal.json("upload", str(tmp_path / "jan.csv"))
    feb = terminal.json("upload", str(tmp_path / "feb.csv"))
    shown = terminal.run("compare", jan["id"], feb["id"])
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert lines[0].startswith(("DRIFT: ", "NO DRIFT: ")) and "tested column(s) drifted" in lines[0]
    assert "Drifted columns:" in lines and any(line.startswith("  y: KS ") for line in lines)  # 600 rows: a test
    assert "Added: new" in lines and "Dropped: old" in lines and "Type changed: code (int64 -> string)" in lines
    assert "COMPARE" in shown.stderr  # the job's live log went to stderr
    report = lines[-1].removeprefix("Report: ")
    assert httpx.get(report).status_code == 200
    comparison_id = lines[-2].split()[1]
    saved = terminal.run("download", comparison_id, "-o", str(tmp_path / "drift.html"))
    assert saved.returncode == 0, saved.stderr
    assert ">Verdict<" in (tmp_path / "drift.html").read_text()

    forced = terminal.json(
        "compare", jan["id"], feb["id"], "--column", "x", "--column", "y", "--method", "PSI", "--threshold", "0.25"
    )
    assert [c["drift"]["method"] for c in forced["columns"]] == ["PSI", "PSI"]
    assert all(c["drift"]["threshold"] == 0.25 for c in forced["columns"])
    refused = terminal.run("compare", jan["id"], feb["id"], "--column", "nope")
    assert refused.returncode == 1 and "No column named 'nope' in either version" in refused.stderr
    assert "[INVALID_INPUT]" in refused.stderr
