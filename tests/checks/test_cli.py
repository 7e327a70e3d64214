"""`assay checks suggest|save|run` as a user runs them: a subprocess against a real server on a port."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.checks.operations import orders_csv
from tests.client.test_cli import Cli, registered, server  # noqa: F401 - server is the module's fixture

pytestmark = pytest.mark.sqlite_only("the client is tested against one server; the backends are tested elsewhere")


def test_suggest_edit_save_and_run_a_suite(server, tmp_path: Path):  # noqa: F811 - the imported fixture, requested by name
    cli: Cli = registered(server, tmp_path / "home")
    (tmp_path / "march.csv").write_bytes(orders_csv())
    (tmp_path / "april.csv").write_bytes(orders_csv(seed=8, broken=True))
    march = cli.json("upload", str(tmp_path / "march.csv"))["id"]
    april = cli.json("upload", str(tmp_path / "april.csv"))["id"]
    unprofiled = cli.run("checks", "suggest", march)
    assert unprofiled.returncode == 1 and "profile it first" in unprofiled.stderr and "[CONFLICT]" in unprofiled.stderr
    assert cli.run("profile", march).returncode == 0

    draft = tmp_path / "draft.json"
    written = cli.run("checks", "suggest", march, "-o", str(draft))
    assert written.returncode == 0, written.stderr
    checks = json.loads(draft.read_text())
    assert checks[0] == {"minRows": 150, "maxRows": 450, "onFail": "FAIL_RUN"}
    # the user's edit: status may also be "lost" from now on
    status = next(c for c in checks if c.get("column") == "status")
    status["allowedValues"].append("lost")
    draft.write_text(json.dumps(checks))
    saved = cli.run("checks", "save", march, str(draft), "--name", "orders")
    assert saved.returncode == 0, saved.stderr
    suite = saved.stdout.split()[2]

    passed = cli.run("checks", "run", march, suite)
    assert passed.returncode == 0, passed.stderr
    assert passed.stdout.startswith("Validation ") and ": PASSED (0 of " in passed.stdout.splitlines()[0]
    assert "Verdict: PASSED" in passed.stderr  # the job's live log
    failed = cli.run("checks", "run", april, suite)
    assert failed.returncode == 1 and ": FAILED (" in failed.stdout.splitlines()[0]
    lines = failed.stdout.splitlines()
    assert any(line.split()[:4] == ["amount", "MIN", "FAIL", "-5"] for line in lines)
    assert any(line.split()[:3] == ["status", "ALLOWED_VALUES", "pass"] for line in lines)  # the edit held
    answered = cli.run("checks", "run", april, suite, "--json")
    as_json = json.loads(answered.stdout)
    assert answered.returncode == 1 and as_json["status"] == "FAILED" and as_json["suite"]["name"] == "orders"
