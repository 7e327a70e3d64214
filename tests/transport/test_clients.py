"""Third-party clients against the real server on a port: graphql-http's audit suite, graphql-codegen's
client preset compiled with `tsc --strict`, and GraphiQL in headless Chromium with the network cut off.
The JS tools are pinned in tests/js/package-lock.json and installed with `npm ci` when missing."""

from __future__ import annotations

import json
import shutil

import pytest

from tests.support.js_tools import JS_DIR, ensure_chromium, ensure_node_modules, run_bin, run_node
from tests.support.live_server import LiveServer

# One server for the module, started before any per-test database: the clients speak only HTTP to it.
pytestmark = [pytest.mark.slow, pytest.mark.sqlite_only("one module-wide server; the backends are tested elsewhere")]


@pytest.fixture(scope="module")
def js() -> None:
    ensure_node_modules()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    live = LiveServer(tmp_path_factory.mktemp("clients") / "data").start()
    yield live
    live.terminate()


def test_graphql_over_http_audit_passes_every_must_and_should(js, server):
    result = run_node("audit.mjs", f"{server.base}/graphql")
    assert result.returncode == 0, result.stderr
    audits = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(audits) >= 60  # graphql-http 1.23.1 runs 61
    required = [a for a in audits if a["name"].startswith(("MUST", "SHOULD"))]
    assert len(required) >= 33 and [a for a in required if a["status"] != "ok"] == []
    assert [a for a in audits if a["status"] != "ok"] == []  # and every MAY too


def test_codegen_of_the_example_operations_compiles_strictly(js):
    shutil.rmtree(JS_DIR / "generated", ignore_errors=True)
    generated = run_bin("graphql-codegen", "--config", "codegen.yml", timeout=180)
    assert generated.returncode == 0, generated.stdout[-3000:] + generated.stderr[-3000:]
    types = (JS_DIR / "generated" / "gql" / "graphql.ts").read_text()
    for operation in (
        "Register",
        "Login",
        "UploadDataset",
        "JobEvents",
        "DatasetWithProfile",
        "TrainModel",
        "Predict",
        "CreateHttpPipeline",
        "RunPipeline",
        "GenerateReport",
        "RegisterModel",
        "SetModelAlias",
        "PredictByAlias",
        "ExportByAlias",
        "ChampionAt",
        "RegistryEvents",
        "PredictExplained",
        "SqlOverDatasets",
        "ImportByUrl",
        "MySessions",
        "ChangePassword",
        "VerifyEmail",
    ):
        assert f"export const {operation}Document" in types, operation
    compiled = run_bin("tsc", "-p", "tsconfig.json")
    assert compiled.returncode == 0 and compiled.stdout == "", compiled.stdout[-3000:]


def test_graphiql_renders_offline_and_runs_a_typed_query_and_subscription(js, server, tmp_path):
    chromium = ensure_chromium()
    email = "browser@example.com"
    token = server.gql(
        'mutation($e: String!) { register(input: {email: $e, password: "a long password"}) { accessToken } }',
        {"e": email},
    )["data"]["register"]["accessToken"]
    job_id = server.upload(token, b"a,b\n1,2\n", "small.csv")["job"]["id"]
    server.wait_for(token, job_id, ("SUCCEEDED",))
    result = run_node(
        "graphiql.mjs",
        server.base,
        timeout=150,
        CHROMIUM=str(chromium),
        ASSAY_TOKEN=token,
        ASSAY_JOB_ID=job_id,
        ASSAY_SCREENSHOT=str(tmp_path / "graphiql.png"),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    page = json.loads(result.stdout.strip().splitlines()[-1])
    assert "error" not in page, {key: page.get(key) for key in ("error", "typed", "shown")}
    assert page["rendered"] and page["explorer"]
    assert page["blocked"] == [] and page["offOrigin"] == [] and page["consoleErrors"] == []
    assert page["me"] == {"data": {"me": {"email": email}}}  # the pasted token went with the typed query
    assert page["events"]["data"]["jobEvents"]["job"]["status"] == "SUCCEEDED"  # and with the WebSocket
    assert page["sockets"] == [f"ws://127.0.0.1:{server.port}/graphql"]
