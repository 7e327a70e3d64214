"""The `assay` command as a user runs it: a subprocess against a real server on a port (served from a thread of the
test process: tests/support/threaded_server.py)."""

from __future__ import annotations

import csv
import io
import json
import math
import os
import random
import signal
import stat
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx
import jwt
import pytest
from graphql import build_schema, parse, validate

from client import operations
from tests.support.paths import CORPUS, ROOT
from tests.support.remote import GraphQLOverHTTP
from tests.support.settings import make_settings
from tests.support.threaded_server import ThreadedServer

# The client is the subject here, and the module's one server runs on SQLite: a PostgreSQL pass would repeat it all.
pytestmark = pytest.mark.sqlite_only("the client is tested against one server; the backends are tested elsewhere")
TOKEN_SECONDS = 12  # tokens expire within a test; the client refreshes in their last fifth


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    settings = make_settings(
        tmp_path_factory.mktemp("cli"),
        access_token_minutes=TOKEN_SECONDS / 60,
        max_upload_mb=1,
        analysis_model_budget_seconds=1,
        job_cancel_grace_seconds=1,
    )
    live = ThreadedServer(settings).start()  # the client is the subject: a server on a port, not its own process
    try:
        yield live
    finally:
        live.stop()


class Cli:
    """One user's terminal: their own config dir, the server's URL in ASSAY_URL."""

    def __init__(self, server: GraphQLOverHTTP, home: Path) -> None:
        self.server = server
        self.config_dir = home / "config"
        self.cwd = home
        self.env = {key: value for key, value in os.environ.items() if not key.startswith("ASSAY_")}
        self.env.update(ASSAY_URL=server.base, ASSAY_CONFIG_DIR=str(self.config_dir), PYTHONPATH=str(ROOT))
        self.email = f"cli-{uuid.uuid4().hex[:8]}@example.com"

    def command(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "client", *args]

    def run(
        self, *args: str, stdin: str = "", env: dict | None = None, timeout: float = 120
    ) -> subprocess.CompletedProcess:
        result = subprocess.run(
            self.command(*args),
            input=stdin,
            capture_output=True,
            text=True,
            cwd=self.cwd,
            env={**self.env, **(env or {})},
            timeout=timeout,
        )
        assert "Traceback" not in result.stderr, result.stderr
        return result

    def json(self, *args: str) -> dict | list:
        result = self.run(*args, "--json")
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    def popen(self, *args: str) -> subprocess.Popen:
        # SIGINT as a terminal gives it: a test run started in the background (CI) inherits SIGINT ignored.
        return subprocess.Popen(
            self.command(*args),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=self.cwd,
            env=self.env,
            preexec_fn=_default_sigint,
        )

    def tokens(self) -> dict:
        return json.loads((self.config_dir / "credentials.json").read_text())["servers"][self.server.base]


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def registered(server: GraphQLOverHTTP, home: Path) -> Cli:
    home.mkdir(parents=True, exist_ok=True)
    terminal = Cli(server, home)
    result = terminal.run("register", "--email", terminal.email, env={"ASSAY_PASSWORD": "correct horse battery"})
    assert result.returncode == 0, result.stderr
    return terminal


@pytest.fixture(scope="module")
def cli(server: GraphQLOverHTTP, tmp_path_factory: pytest.TempPathFactory) -> Cli:
    """One user for the module: registering costs an argon2 hash and a process start."""
    return registered(server, tmp_path_factory.mktemp("terminal"))


def write_csv(path: Path, header: str, rows: int, row: Callable[[], str]) -> Path:
    """A CSV file of the header and `rows` lines, each made by `row()`."""
    path.write_text(header + "\n" + "".join(row() + "\n" for _ in range(rows)))
    return path


def write_churn(path: Path, rows: int = 200) -> Path:
    rng = random.Random(7)
    lines = ["age,plan,monthly,churned"]
    for _ in range(rows):
        monthly = round(rng.uniform(5, 100), 2)
        lines.append(
            f"{rng.randint(18, 80)},{rng.choice(['basic', 'pro', 'team'])},{monthly},"
            f"{'yes' if (monthly > 60) != (rng.random() < 0.1) else 'no'}"
        )
    path.write_text("\n".join(lines) + "\n")
    return path


def test_every_operation_is_valid_against_the_schema():
    schema = build_schema((ROOT / "schema.graphql").read_text())
    for document in operations.ALL:
        assert validate(schema, parse(document)) == [], document


@pytest.mark.slow  # CLI processes against a live server (54 s loaded)
def test_register_keeps_tokens_private_and_login_needs_the_right_password(server: GraphQLOverHTTP, tmp_path: Path):
    cli = registered(server, tmp_path)
    assert stat.S_IMODE((cli.config_dir / "credentials.json").stat().st_mode) == 0o600
    assert stat.S_IMODE(cli.config_dir.stat().st_mode) == 0o700
    assert cli.tokens()["email"] == cli.email

    wrong = cli.run("login", "--email", cli.email, "--password", "not the password")
    assert wrong.returncode == 3
    assert wrong.stderr.strip().splitlines() == ["assay: Wrong email or password [UNAUTHENTICATED]"]
    right = cli.run("login", "--email", cli.email, "--json", env={"ASSAY_PASSWORD": "correct horse battery"})
    assert right.returncode == 0 and json.loads(right.stdout)["user"]["email"] == cli.email

    assert cli.run("logout").returncode == 0
    logged_out = cli.run("datasets")
    assert logged_out.returncode == 3 and "assay login" in logged_out.stderr
    unreachable = cli.run("datasets", "--url", "http://127.0.0.1:9")
    assert unreachable.returncode == 3  # no tokens for that server: asked to log in before anything is sent
    login = cli.run("--url", "http://127.0.0.1:9", "login", "--email", cli.email, "--password", "x")
    assert login.returncode == 7 and "Cannot reach Assay" in login.stderr


@pytest.mark.slow  # CLI processes against a live server (19 s loaded)
def test_upload_shows_bytes_sent_then_the_ingest_log_then_the_dataset(cli: Cli, tmp_path: Path):
    weather = tmp_path / "weather.csv"
    weather.write_text("city;temp;day\nOslo;-3,5;01.02.2024\nRome;14,25;02.02.2024\n")
    result = cli.run("upload", str(weather), "--name", "Weather")
    assert result.returncode == 0, result.stderr
    assert "Uploading weather.csv: 100%" in result.stderr and "57.0/57.0" in result.stderr
    assert "[detect] Encoding utf-8, delimiter ';'" in result.stderr
    assert "Weather  2 rows x 3 columns" in result.stdout
    assert [line.split()[:2] for line in result.stdout.splitlines()[-3:]] == [
        ["city", "CATEGORICAL"],
        ["temp", "NUMERIC"],
        ["day", "DATETIME"],
    ]

    dataset = cli.json("upload", str(weather), "--delimiter", ";")
    assert dataset["status"] == "READY" and (dataset["rowCount"], dataset["columnCount"]) == (2, 3)
    assert cli.json("datasets", "--first", "1")[0]["id"] == dataset["id"]
    shown = cli.run("show", dataset["id"])
    assert ["temp", "NUMERIC", "float64", "0"] in [line.split() for line in shown.stdout.splitlines()]
    assert "No profile yet" in shown.stdout
    profile = cli.json("profile", dataset["id"])
    assert profile["profile"]["rowCount"] == 2
    assert "UNIQUE" in cli.run("show", dataset["id"]).stdout  # the profile's alerts now show


@pytest.mark.slow  # CLI processes against a live server (16 s loaded)
def test_refused_uploads_are_one_line_and_leave_nothing(cli: Cli, tmp_path: Path):
    before = cli.json("datasets"), cli.json("jobs")
    spreadsheet = cli.run("upload", str(CORPUS / "fake.xlsx"))
    assert spreadsheet.returncode == 1
    assert spreadsheet.stderr.strip().splitlines()[-1].startswith("assay: This is a zip archive")
    assert spreadsheet.stderr.strip().endswith("[UNSUPPORTED_FILE]")

    large = tmp_path / "large.csv"
    large.write_text("a,b\n" + "12345678,12345678\n" * 150_000)  # 2.6 MB: over the server's 1 MB (+ 1 MB slack)
    too_large = cli.run("upload", str(large), "--json")
    assert too_large.returncode == 1
    assert json.loads(too_large.stdout)["error"]["code"] == "PAYLOAD_TOO_LARGE"
    failed = cli.run("upload", str(CORPUS / "header_only.csv"))  # accepted, then its ingest job fails
    assert failed.returncode == 5 and failed.stderr.strip().endswith("[FAILED]")
    assert "header but no data rows" in failed.stderr.strip().splitlines()[-1]
    missing = cli.run("upload", str(tmp_path / "absent.csv"))
    assert missing.returncode == 1 and "No such file" in missing.stderr
    after = cli.json("datasets"), cli.json("jobs")
    assert (len(after[0]), len(after[1])) == (len(before[0]) + 1, len(before[1]) + 1)  # only the failed ingest
    assert after[0][0]["status"] == "FAILED" and after[1][0]["status"] == "FAILED"


@pytest.mark.slow  # waits out a token lifetime (35 s loaded)
def test_an_expired_access_token_is_refreshed(cli: Cli, tmp_path: Path):
    (tmp_path / "tiny.csv").write_text("a,b\n1,2\n3,4\n")
    cli.json("upload", str(tmp_path / "tiny.csv"))
    job_id = cli.json("jobs", "--first", "1")[0]["id"]  # its INGEST job, to watch later
    assert cli.run("login", "--email", cli.email, env={"ASSAY_PASSWORD": "correct horse battery"}).returncode == 0
    first = cli.tokens()
    assert cli.run("datasets").returncode == 0
    assert cli.tokens() == first  # still fresh: not refreshed
    expires = jwt.decode(first["accessToken"], options={"verify_signature": False})["exp"]
    time.sleep(max(0.0, expires - time.time() + 0.5))
    # Two commands at once: one refreshes, the other waits for it and uses the new token. Spending the one-time
    # refresh token twice would make the server revoke the whole login.
    together = [cli.popen("jobs"), cli.popen("datasets")]
    assert [command.wait(timeout=60) for command in together] == [0, 0]
    second = cli.tokens()
    assert second["accessToken"] != first["accessToken"] and second["refreshToken"] != first["refreshToken"]
    assert cli.run("jobs").returncode == 0  # the login was not revoked

    # A token the server refuses although it looks valid (here: signed with another key) is refreshed too.
    claims = {"sub": "x", "iat": int(time.time()), "exp": int(time.time()) + 3600}
    forged = {**second, "accessToken": jwt.encode(claims, "another-key-that-is-long-enough-for-hs256")}
    (cli.config_dir / "credentials.json").write_text(json.dumps({"servers": {cli.server.base: forged}}))
    assert cli.run("datasets").returncode == 0
    assert cli.tokens()["accessToken"] not in (forged["accessToken"], second["accessToken"])
    # ... and on the WebSocket, whose connection_init the server refuses
    (cli.config_dir / "credentials.json").write_text(
        json.dumps({"servers": {cli.server.base: {**cli.tokens(), "accessToken": forged["accessToken"]}}})
    )
    watched = cli.run("watch", job_id)
    assert watched.returncode == 0 and watched.stdout.splitlines()[-1] == f"Job {job_id} SUCCEEDED"

    spent = {**cli.tokens(), "accessToken": forged["accessToken"], "refreshToken": second["refreshToken"]}
    (cli.config_dir / "credentials.json").write_text(json.dumps({"servers": {cli.server.base: spent}}))
    expired = cli.run("datasets")
    assert expired.returncode == 3 and "run `assay login` again" in expired.stderr
    assert cli.run("login", "--email", cli.email, env={"ASSAY_PASSWORD": "correct horse battery"}).returncode == 0


@pytest.mark.slow
def test_train_then_predict_a_csv_then_download(cli: Cli, tmp_path: Path):
    dataset = cli.json("upload", str(write_churn(tmp_path / "churn.csv")))
    trained = cli.run("train", dataset["id"], "--target", "churned", "--algorithm", "LOGISTIC_REGRESSION")
    assert trained.returncode == 0, trained.stderr
    assert "[prepare] Task: CLASSIFICATION" in trained.stderr
    assert "Leaderboard:" in trained.stdout and "*   LOGISTIC_REGRESSION" in trained.stdout
    model_id = trained.stdout.split()[1]

    new_rows = tmp_path / "new.csv"
    new_rows.write_text("age,plan,monthly\n41,pro,90.5\n30,basic,6\n")
    predicted = cli.run("predict", model_id, str(new_rows))
    assert predicted.returncode == 0, predicted.stderr
    lines = predicted.stdout.splitlines()
    assert lines[0] == "age,plan,monthly,prediction,probability_False,probability_True"
    assert [line.split(",")[3] for line in lines[1:]] == ["True", "False"]

    bad = tmp_path / "bad.csv"
    bad.write_text("age,plan,monthly\nold,pro,3\n")
    refused = cli.run("predict", model_id, str(bad))
    assert refused.returncode == 1 and "(at rows/0/age) [INVALID_INPUT]" in refused.stderr and refused.stdout == ""

    saved = cli.json("download", dataset["id"], "-o", str(tmp_path / "back.csv"))
    assert (tmp_path / "back.csv").read_text().count("\n") == 201 and saved["bytes"] > 0
    assert cli.run("download", model_id, "--format", "skops").returncode == 0
    assert any(path.suffix == ".skops" for path in cli.cwd.iterdir())


@pytest.mark.slow
def test_watch_stops_on_ctrl_c_but_the_job_runs_on_until_cancelled(cli: Cli, tmp_path: Path):
    rng = random.Random(3)
    numbers = write_csv(
        tmp_path / "numbers.csv", "a,b,c,d", 3000, lambda: ",".join(f"{rng.gauss(0, 1):.3f}" for _ in range(4))
    )
    dataset = cli.json("upload", str(numbers))
    training = cli.popen("train", dataset["id"], "--target", "d", "--budget", "60")
    try:
        job_id = wait_for_running(cli, "TRAIN")
        watcher = cli.popen("watch", job_id)
        assert watcher.stdout.readline().startswith("  [prepare]")  # the backlog arrived: it is watching
        watcher.send_signal(signal.SIGINT)
        _out, err = watcher.communicate(timeout=30)
        assert watcher.returncode == 130, err
        assert f"Stopped watching; the job keeps running (`assay cancel {job_id}` stops it)." in err
        assert "Traceback" not in err
        assert cli.json("jobs", "--kind", "train")[0]["status"] == "RUNNING"

        cancelled = cli.run("cancel", job_id)
        assert cancelled.returncode == 0 and job_id in cancelled.stdout
        assert training.wait(timeout=60) == 6
        assert f"Job {job_id} cancelled" in training.stderr.read()
    finally:
        training.kill()
    rewatched = cli.run("watch", job_id)
    assert rewatched.returncode == 6 and rewatched.stdout.splitlines()[-1].startswith(f"Job {job_id} CANCELLED")


def wait_for_running(cli: Cli, kind: str, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        running = cli.json("jobs", "--kind", kind, "--status", "RUNNING")
        if running:
            return running[0]["id"]
        time.sleep(0.5)
    raise AssertionError(f"no {kind} job started")


@pytest.mark.slow
def test_analyze_asks_which_column_then_report_opens(cli: Cli, tmp_path: Path):
    rng = random.Random(5)
    # two equally plausible targets and no telling name: the job must ask
    shop = write_csv(
        tmp_path / "shop.csv",
        "colour,size,weight",
        120,
        lambda: f"{rng.choice(['red', 'blue', 'green'])},{rng.choice(['S', 'M', 'L'])},{rng.uniform(1, 50):.2f}",
    )
    dataset = cli.json("upload", str(shop))

    no_answer = cli.popen("analyze", dataset["id"])
    _, err = no_answer.communicate(input="", timeout=120)
    assert no_answer.returncode == 1 and "waits for an answer" in err and "[NEEDS_INPUT]" in err

    answered = cli.run("analyze", dataset["id"], stdin="2\n", timeout=180)
    assert answered.returncode == 0, answered.stderr
    assert "Answer (number or name):" in answered.stderr and "  1. " in answered.stderr
    assert "Report: http://" in answered.stdout

    opened = tmp_path / "opened.txt"
    browser = tmp_path / "browser.sh"
    browser.write_text(f'#!/bin/sh\necho "$1" > {opened}\n')
    browser.chmod(0o755)
    report = cli.run("report", dataset["id"], "--open", "--json", env={"BROWSER": f"{browser} %s"})
    assert report.returncode == 0, report.stderr
    url = json.loads(report.stdout)["url"]
    deadline = time.monotonic() + 10
    while not opened.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert opened.read_text().strip() == url
    page = httpx.get(url, timeout=30)
    assert page.status_code == 200 and "<html" in page.text.lower()


@pytest.mark.slow  # CLI processes against a live server (11 s loaded)
def test_another_users_ids_are_not_found(cli: Cli, server: GraphQLOverHTTP, tmp_path: Path):
    weather = tmp_path / "w.csv"
    weather.write_text("a,b\n1,2\n3,4\n")
    dataset = cli.json("upload", str(weather))
    job_id = cli.json("jobs")[0]["id"]
    other = registered(server, tmp_path / "other")
    for args in (("show", dataset["id"]), ("download", dataset["id"]), ("cancel", job_id), ("watch", job_id)):
        result = other.run(*args)
        assert result.returncode == 4 and result.stderr.strip().endswith("[NOT_FOUND]"), (args, result.stderr)


def test_import_asks_the_server_to_fetch_and_refusals_are_one_line(cli: Cli):
    refused = cli.run("import", "http://example.com/orders.csv", "--name", "Orders")
    assert refused.returncode == 1
    assert refused.stderr.strip().splitlines()[-1] == "assay: Only https:// URLs can be imported [INVALID_INPUT]"
    private = cli.run("import", "https://10.255.255.1/orders.csv", "--json")
    assert json.loads(private.stdout)["error"]["code"] == "INVALID_INPUT"
    assert "non-public address" in json.loads(private.stdout)["error"]["message"]


@pytest.mark.slow
def test_predict_explain_adds_contribution_columns(cli: Cli, tmp_path: Path):
    dataset = cli.json("upload", str(write_churn(tmp_path / "churn.csv")))
    trained = cli.run("train", dataset["id"], "--target", "churned", "--algorithm", "LOGISTIC_REGRESSION")
    assert trained.returncode == 0, trained.stderr
    new_rows = tmp_path / "new.csv"
    new_rows.write_text("age,plan,monthly\n41,pro,90.5\n30,basic,6\n")
    explained = cli.run("predict", trained.stdout.split()[1], str(new_rows), "--explain")
    assert explained.returncode == 0, explained.stderr
    rows = list(csv.DictReader(io.StringIO(explained.stdout)))
    assert list(rows[0])[3:] == ["prediction", "probability_False", "probability_True"] + [
        f"contrib__{label}__{feature}" if feature else f"base_value__{label}"
        for label in ("False", "True")
        for feature in ("age", "plan", "monthly", None)
    ]
    for row in rows:  # binary log-odds: base + contributions, through the logistic function, is the probability
        log_odds = float(row["base_value__True"]) + sum(
            float(row[f"contrib__True__{f}"]) for f in ("age", "plan", "monthly")
        )
        assert 1 / (1 + math.exp(-log_odds)) == pytest.approx(float(row["probability_True"]), abs=1e-6)


def test_job_kinds_are_the_servers_not_a_copy(cli):
    # Any kind the server registers filters (EXPORT was added without touching the client); an unknown one is
    # refused by the server's JobKind enum, not by a list kept in the client.
    assert cli.json("jobs", "--kind", "export") == []
    unknown = cli.run("jobs", "--kind", "nope")
    assert unknown.returncode != 0 and "NOPE" in unknown.stderr
