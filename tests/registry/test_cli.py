"""`assay models register|alias|history` as a user runs them: a subprocess against a real server on a port."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.client.test_cli import Cli, registered, server, write_churn  # noqa: F401 - server is the module's fixture

pytestmark = pytest.mark.sqlite_only("the client is tested against one server; the backends are tested elsewhere")


@pytest.mark.slow  # CLI processes against a live server (11 s loaded)
def test_register_alias_and_history_then_predict_by_alias(server, tmp_path: Path):  # noqa: F811 - the imported fixture, requested by name
    cli: Cli = registered(server, tmp_path / "home")
    dataset = cli.json("upload", str(write_churn(tmp_path / "churn.csv")))
    models = []
    for algorithm in ("LOGISTIC_REGRESSION", "RANDOM_FOREST"):
        trained = cli.run("train", dataset["id"], "--target", "churned", "--algorithm", algorithm)
        assert trained.returncode == 0, trained.stderr
        models.append(trained.stdout.split()[1])

    first = cli.run("models", "register", models[0], "churn", "--tag", "team-a", "--comment", "first cut")
    assert first.returncode == 0 and first.stdout.strip() == f"Registered churn/1 (model {models[0]})"
    made = cli.run("models", "alias", "churn", "champion", "1")
    assert made.returncode == 0 and made.stdout.strip() == "churn@champion -> version 1 (new alias)"
    second = cli.json("models", "register", models[1], "churn")
    assert second["version"]["reference"] == "churn/2" and second["registeredModel"]["latestVersion"] == 2
    moved = cli.json("models", "alias", "churn", "champion", "2", "--comment", "forest wins")
    assert moved["event"]["fromVersion"] == 1 and moved["alias"]["reference"] == "churn@champion"

    history = cli.run("models", "history", "churn")
    assert history.returncode == 0, history.stderr
    lines = history.stdout.splitlines()
    assert lines[0] == "churn: 2 version(s); aliases: champion -> 2"
    assert "champion -> 2 (was 1)" in lines[3] and "forest wins" in lines[3] and cli.email in lines[3]
    assert "registered version 1" in lines[-1] and "first cut" in lines[-1]
    as_json = cli.json("models", "history", "churn")
    assert [e["kind"] for e in (edge["node"] for edge in as_json["history"]["edges"])] == [
        "ALIAS_SET",
        "REGISTERED",
        "ALIAS_SET",
        "REGISTERED",
    ]

    rows = tmp_path / "new.csv"
    rows.write_text("age,plan,monthly\n41,pro,90.5\n30,basic,6\n")
    by_alias = cli.run("predict", "churn@champion", str(rows))
    by_id = cli.run("predict", models[1], str(rows))
    assert by_alias.returncode == 0 and by_alias.stdout == by_id.stdout, by_alias.stderr

    refused = cli.run("models", "alias", "churn", "1st", "1")
    assert refused.returncode == 1 and "[INVALID_INPUT]" in refused.stderr and refused.stdout == ""
    missing = cli.run("models", "history", "nope")
    assert missing.returncode == 4 and "No registered model named nope [NOT_FOUND]" in missing.stderr
