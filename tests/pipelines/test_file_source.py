"""The local-file source: administrators read CSV files under ASSAY_IMPORT_DIRS and nowhere else; a
symlink is followed before the check; members are refused; a saved pipeline rereads the file each run."""

from __future__ import annotations

import gzip
import os

import pytest
from starlette.testclient import TestClient

from server.app import create_app
from tests.pipelines.operations import PREVIEW, create, run
from tests.support.graphql import gql, register
from tests.support.settings import make_settings
from tests.users.test_auth import LOGIN

pytestmark = pytest.mark.one_database(reason="reading server files")

ADMIN = {"email": "root@example.com", "password": "admin password 1"}


@pytest.fixture
def imports(tmp_path):
    folder = tmp_path / "imports"
    (folder / "sales").mkdir(parents=True)
    (folder / "sales" / "jan.csv").write_text("region,amount\nnorth,10\nsouth,12.5\n")
    outside = tmp_path / "secret.csv"
    outside.write_text("password\nhunter2\n")
    os.symlink(outside, folder / "sales" / "link.csv")  # inside by name, outside once resolved
    return folder, outside


@pytest.fixture
def admin_client(tmp_path, imports):
    settings = make_settings(
        tmp_path, admin_email=ADMIN["email"], admin_password=ADMIN["password"], import_dirs=str(imports[0])
    )
    with TestClient(create_app(settings)) as client:
        yield client, gql(client, LOGIN, ADMIN)["data"]["login"]["accessToken"]


def test_an_administrator_builds_a_pipeline_on_a_server_file_and_each_run_rereads_it(admin_client, imports):
    client, token = admin_client
    folder, _ = imports
    created = create(
        client,
        token,
        name="sales",
        source={"file": {"path": "sales/jan.csv"}},
        steps=[{"derive": {"name": "doubled", "expression": "amount * 2"}}],
        sink={"dataset": {"name": "sales"}},
    )
    assert created["errors"] == [], created
    first = run(client, token, created["pipeline"]["id"])
    assert first["job"]["status"] == "SUCCEEDED", first
    assert first["data"]["rows"] == [["north", 10, 20], ["south", 12.5, 25]]
    (folder / "sales" / "jan.csv").write_text("region,amount\nnorth,10\nsouth,12.5\neast,1\n")
    again = run(client, token, created["pipeline"]["id"])
    assert again["lastRun"]["rowsOut"] == 3

    preview = gql(client, PREVIEW, {"input": {"source": {"file": {"path": str(folder / "sales" / "jan.csv")}}}}, token)[
        "data"
    ]["previewSource"]
    assert preview["errors"] == [] and preview["preview"]["rows"]["totalRows"] == 3


@pytest.mark.parametrize(
    ("path", "code"),
    [
        ("sales/link.csv", "FORBIDDEN"),  # a symlink out of the import directory
        ("../secret.csv", "FORBIDDEN"),  # a relative path climbing out
        ("/etc/passwd", "FORBIDDEN"),
        ("sales/missing.csv", "NOT_FOUND"),
        ("sales", "INVALID_INPUT"),  # a directory
    ],
)
def test_paths_outside_the_import_directories_are_refused(admin_client, path, code):
    client, token = admin_client
    refused = create(client, token, name="x", source={"file": {"path": path}}, sink={"dataset": {"name": "x"}})
    assert refused["pipeline"] is None
    (error,) = refused["errors"]
    assert error["code"] == code and error["field"] == ["source", "file", "path"], error


def test_members_cannot_read_server_files(admin_client):
    client, _ = admin_client
    member = register(client)["accessToken"]
    refused = create(
        client, member, name="x", source={"file": {"path": "sales/jan.csv"}}, sink={"dataset": {"name": "x"}}
    )
    assert refused["errors"][0]["code"] == "FORBIDDEN" and refused["pipeline"] is None
    preview = gql(client, PREVIEW, {"input": {"source": {"file": {"path": "sales/jan.csv"}}}}, member)
    assert preview["data"]["previewSource"]["errors"][0]["code"] == "FORBIDDEN"


def test_file_sources_are_off_without_import_directories(client, tmp_path):
    # `client` runs with default settings: no ASSAY_IMPORT_DIRS.
    token = register(client)["accessToken"]
    refused = create(client, token, name="x", source={"file": {"path": str(tmp_path)}}, sink={"dataset": {"name": "x"}})
    assert refused["errors"][0]["code"] == "FORBIDDEN"


@pytest.mark.parametrize("name", ["big.csv", "big.csv.gz"])
def test_a_preview_of_a_large_server_file_reads_only_its_first_rows(admin_client, imports, name):
    """8 MB of rows, then a broken line: reading the whole file would fail on it (as a run does); the preview reads
    the first megabyte or so and shows the first rows, typed."""
    client, token = admin_client
    folder, _ = imports
    rows = 200_000
    text = "id,region,amount\n" + "".join(f"{i},region {i % 7},{i * 0.5}\n" for i in range(rows))
    text += "1,2,3,4,5\n"  # five fields where the header has three
    content = text.encode()
    assert len(content) > 4 * 2**20
    (folder / name).write_bytes(gzip.compress(content) if name.endswith(".gz") else content)
    preview = gql(client, PREVIEW, {"input": {"source": {"file": {"path": name}}, "rows": 5}}, token)["data"][
        "previewSource"
    ]
    assert preview["errors"] == [], preview
    shown = preview["preview"]
    assert shown["rows"]["rows"] == [[i, f"region {i % 7}", i * 0.5] for i in range(5)]
    assert shown["rows"]["totalRows"] == 1000  # what a preview keeps, as for a small file
    assert [(c["name"], c["dtype"]) for c in shown["columns"]] == [
        ("id", "int64"),
        ("region", "string"),
        ("amount", "float64"),
    ]
    assert any("Read the first 1.0 MB of" in line and "for the preview" in line for line in shown["log"]), shown["log"]

    created = create(client, token, name="big", source={"file": {"path": name}}, sink={"dataset": {"name": "big"}})
    failed = run(client, token, created["pipeline"]["id"])  # a run reads every line
    assert failed["job"]["status"] == "FAILED" and "has 5 fields where the header has 3" in failed["job"]["error"]
