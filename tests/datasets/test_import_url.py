"""importDataset against a real HTTPS server on 127.0.0.1 (a self-signed certificate made here, trusted through
ASSAY_IMPORT_CA_FILE; 127.0.0.1 allowed as a source host, as the pipeline tests do): files arrive and are ingested
with a live log, and every way a fetch can go wrong fails with its reason and leaves no file behind."""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from starlette.testclient import TestClient

from schema.common import raw_id
from server.app import create_app
from services import files
from tests.support.graphql import gql, register, wait_for_job
from tests.support.settings import make_settings

pytestmark = pytest.mark.one_database(reason="fetching URLs")

IMPORT = """mutation($input: ImportDatasetInput!) { importDataset(input: $input) {
  dataset { id name fileName status } job { id kind } errors { code message field } } }"""
DATASET = "query($id: ID!) { dataset(id: $id) { status error rowCount columnCount sizeBytes fileName name } }"
ORDERS = b"id,city,amount\n" + b"".join(b"%d,%s,%d.5\n" % (i, [b"Oslo", b"Lima"][i % 2], i) for i in range(1, 2001))


def self_signed(folder: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


class Files(BaseHTTPRequestHandler):
    """The paths a test imports from; some misbehave on purpose."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:  # http.server's name
        port = self.server.server_address[1]
        if self.path == "/orders.csv":
            return self._send(200, ORDERS)
        if self.path == "/moved":
            return self._send(302, b"", {"location": "/orders.csv"})
        if self.path == "/to-private":
            return self._send(302, b"", {"location": "https://10.255.255.1/orders.csv"})
        if self.path == "/to-plain-http":
            return self._send(302, b"", {"location": f"http://127.0.0.1:{port}/orders.csv"})
        if self.path == "/big.csv":  # announced over the 1 MB cap
            return self._send(200, b"a,b\n" + b"1,2\n" * 400_000)
        if self.path == "/big-unannounced.csv":  # no length: the cap is found while streaming
            self.send_response(200)
            self.send_header("connection", "close")
            self.end_headers()
            for _ in range(300):
                self.wfile.write(b"1,2\n" * 2048)
            return None
        if self.path == "/stall.csv":
            self._send_start(ORDERS[:100])
            time.sleep(4)
            return None
        if self.path == "/cut.csv":
            self._send_start(ORDERS[:1000])
            self.close_connection = True
            return None
        return self._send(404, b"no such file")

    def _send_start(self, start: bytes) -> None:
        """Announce all of ORDERS, send only its `start`: what comes next (a stall, a cut) is the caller's."""
        self.send_response(200)
        self.send_header("content-length", str(len(ORDERS)))
        self.end_headers()
        self.wfile.write(start)
        self.wfile.flush()

    def _send(self, status: int, body: bytes, headers: dict | None = None) -> None:
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture(scope="module")
def https_server(tmp_path_factory) -> Iterator[tuple[str, Path]]:
    folder = tmp_path_factory.mktemp("tls")
    cert, key = self_signed(folder)
    server = ThreadingHTTPServer(("127.0.0.1", 0), Files)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"https://127.0.0.1:{server.server_address[1]}", cert
    server.shutdown()
    server.server_close()


@pytest.fixture
def importer(tmp_path, https_server) -> Iterator[tuple[TestClient, str]]:
    base, cert = https_server
    settings = make_settings(
        tmp_path, allowed_source_hosts="127.0.0.1", import_ca_file=str(cert), upload_stall_seconds=1, max_upload_mb=1
    )
    with TestClient(create_app(settings)) as client:
        client.settings = settings
        yield client, base


def start_import(client: TestClient, token: str, url: str, **extra) -> dict:
    return gql(client, IMPORT, {"input": {"url": url, **extra}}, token)["data"]["importDataset"]


def dataset_files(client: TestClient, dataset_id: str) -> list[str]:
    folder = files.dataset_dir(client.settings.resolved_data_dir, raw_id(dataset_id, "Dataset"))
    return sorted(p.name for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def test_a_file_imported_by_url_is_ingested_with_a_live_log_and_stays_its_owners(importer):
    client, base = importer
    token = register(client)["accessToken"]
    payload = start_import(client, token, f"{base}/moved", name="Orders", csv={"delimiter": ","})
    assert payload["errors"] == [] and payload["job"]["kind"] == "INGEST"
    job = wait_for_job(client, token, payload["job"]["id"])
    assert job["status"] == "SUCCEEDED", job
    logs = [entry["message"] for entry in job["logs"]]
    assert any(line.startswith("Redirected to https://127.0.0.1:") for line in logs)
    assert any(
        line.startswith(f"Downloading {base}/orders.csv ({len(ORDERS) / 2**20:,.1f} MB announced)") for line in logs
    )
    assert any(line.startswith("Downloaded 0.0 MB in") for line in logs)
    assert [stage["stage"] for stage in job["timeline"]][:2] == ["download", "detect"]
    dataset = gql(client, DATASET, {"id": payload["dataset"]["id"]}, token)["data"]["dataset"]
    assert dataset == {
        "status": "READY",
        "error": None,
        "rowCount": 2000,
        "columnCount": 3,
        "sizeBytes": len(ORDERS),
        "fileName": "moved",
        "name": "Orders",
    }
    stranger = register(client)["accessToken"]
    assert gql(client, DATASET, {"id": payload["dataset"]["id"]}, stranger)["data"]["dataset"] is None


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://127.0.0.1/orders.csv", "Only https:// URLs can be imported"),
        ("https://10.255.255.1/orders.csv", "a non-public address"),
        ("ftp://example.com/orders.csv", "must be http:// or https://"),
        ("http://[::1", "Not a valid URL: Invalid IPv6 URL"),  # found by the fuzz suite: was an INTERNAL error
        ("https://example.com:99999/orders.csv", "Not a valid URL: Port out of range"),
    ],
)
def test_urls_refused_before_any_job(importer, url, message):
    client, _ = importer
    token = register(client)["accessToken"]
    payload = start_import(client, token, url)
    assert payload["dataset"] is None and payload["job"] is None
    assert payload["errors"][0]["code"] == "INVALID_INPUT" and payload["errors"][0]["field"] == ["url"]
    assert message in payload["errors"][0]["message"]
    assert gql(client, "{ datasets { totalCount } }", token=token)["data"]["datasets"]["totalCount"] == 0


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/stall.csv", "sent nothing for 1 s"),
        ("/cut.csv", "was cut off"),
        ("/big.csv", "larger than the 1 MB limit"),
        ("/big-unannounced.csv", "larger than the 1 MB limit"),
        ("/to-private", "10.255.255.1, a non-public address"),
        ("/to-plain-http", "Only https:// URLs can be imported"),
        ("/missing.csv", "answered HTTP 404"),
    ],
)
def test_an_import_that_goes_wrong_says_why_and_leaves_nothing(importer, path, message):
    client, base = importer
    token = register(client)["accessToken"]
    payload = start_import(client, token, base + path)
    assert payload["errors"] == []
    job = wait_for_job(client, token, payload["job"]["id"])
    assert job["status"] == "FAILED" and message in job["error"], job["error"]
    dataset = gql(client, DATASET, {"id": payload["dataset"]["id"]}, token)["data"]["dataset"]
    assert dataset["status"] == "FAILED" and message in dataset["error"]
    assert dataset_files(client, payload["dataset"]["id"]) == []
