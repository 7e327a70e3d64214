"""AssayClient: the GraphQL API from Python, over gql (HTTP, multipart uploads, WebSocket subscriptions).

It keeps the login's tokens in a CredentialStore and refreshes the access token before it expires (or when
the server says it has), so a caller never handles tokens.
"""

from __future__ import annotations

import asyncio
import mimetypes
import os
import re
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import jwt
from gql import Client, FileVar, GraphQLRequest
from gql.transport.exceptions import TransportError, TransportQueryError, TransportServerError
from gql.transport.httpx import HTTPXTransport
from gql.transport.websockets import WebsocketsTransport

from client import operations as ops
from client.credentials import CredentialStore
from client.errors import AssayError, close_code, found, graphql_error, raise_user_errors

DEFAULT_URL = "http://127.0.0.1:8000"
REFRESH_MARGIN_SECONDS = 10  # refresh this long before expiry (at most a fifth of the lifetime): requests take time
FINISHED = ("SUCCEEDED", "FAILED", "CANCELLED")
DATA_FORMATS = ("csv", "parquet")
MODEL_FORMATS = ("joblib", "pickle", "skops", "onnx")


def server_base(url: str | None) -> str:
    """The server's root URL, whether given with or without /graphql."""
    base = (url or os.environ.get("ASSAY_URL") or DEFAULT_URL).rstrip("/")
    return base.removesuffix("/graphql")


def refresh_due(token: str) -> float:
    """When to refresh, from the `exp` and `iat` claims read without the key (only the server verifies)."""
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return 0.0
    expires = float(claims.get("exp", 0))
    lifetime = expires - float(claims.get("iat", expires))
    return expires - min(REFRESH_MARGIN_SECONDS, lifetime / 5)


class ProgressFile:
    """A file whose reads are counted, so an upload can show the bytes sent; httpx still sees its size."""

    def __init__(self, path: Path, on_bytes: Callable[[int], object] | None) -> None:
        self.file = path.open("rb")
        self.on_bytes = on_bytes
        self.name = path.name

    def read(self, size: int = -1) -> bytes:
        chunk = self.file.read(size)
        if self.on_bytes and chunk:
            self.on_bytes(len(chunk))
        return chunk

    def fileno(self) -> int:
        return self.file.fileno()

    def seek(self, offset: int, whence: int = 0) -> int:
        return self.file.seek(offset, whence)

    def tell(self) -> int:
        return self.file.tell()

    def close(self) -> None:
        self.file.close()


class AssayClient:
    def __init__(self, url: str | None = None, *, store: CredentialStore | None = None, timeout: float = 60) -> None:
        self.base = server_base(url)
        self.endpoint = f"{self.base}/graphql"
        self.store = store or CredentialStore()
        self.timeout = timeout

    # -- authentication ------------------------------------------------------------------------------------------

    def register(self, email: str, password: str) -> dict:
        return self._authenticate(ops.REGISTER, "register", email, password)

    def login(self, email: str, password: str) -> dict:
        return self._authenticate(ops.LOGIN, "login", email, password)

    def logout(self) -> bool:
        return self.store.remove(self.base)

    def _authenticate(self, document: str, field: str, email: str, password: str) -> dict:
        payload = self._send(document, {"input": {"email": email, "password": password}})[field]
        raise_user_errors(payload)
        self._save(payload)
        return payload["user"]

    def _save(self, payload: dict) -> None:
        self.store.put(
            self.base,
            {
                "email": payload["user"]["email"],
                "accessToken": payload["accessToken"],
                "refreshToken": payload["refreshToken"],
            },
        )

    def access_token(self, *, force_refresh: bool = False) -> str:
        """A valid access token: the stored one, or a new pair when it is about to expire."""
        entry = self.store.get(self.base)
        if entry is None:
            raise AssayError(f"Not logged in to {self.base}: run `assay login`", "UNAUTHENTICATED")
        if not force_refresh and refresh_due(entry["accessToken"]) > time.time():
            return entry["accessToken"]
        with self.store.locked():
            current = self.store.get(self.base) or entry
            if current["accessToken"] != entry["accessToken"]:
                return current["accessToken"]  # another command refreshed while we waited for the lock
            payload = self._send(ops.REFRESH, {"input": {"refreshToken": current["refreshToken"]}})["refreshToken"]
            if payload["errors"]:
                raise AssayError(f"The session at {self.base} has expired: run `assay login` again", "UNAUTHENTICATED")
            self.store.put_while_locked(
                self.base, {**current, "accessToken": payload["accessToken"], "refreshToken": payload["refreshToken"]}
            )
            return payload["accessToken"]

    # -- transport ------------------------------------------------------------------------------------------------

    def execute(self, document: str, variables: dict | None = None, *, upload: bool = False) -> dict:
        """Run an operation as the logged-in user; an access token the server calls expired is refreshed once."""
        token = self.access_token()
        try:
            return self._send(document, variables, token=token, upload=upload)
        except AssayError as error:
            if error.code != "UNAUTHENTICATED" or upload:
                raise
        return self._send(document, variables, token=self.access_token(force_refresh=True))

    def _send(self, document: str, variables: dict | None, *, token: str | None = None, upload: bool = False) -> dict:
        headers = {"authorization": f"Bearer {token}"} if token else {}
        if upload:
            headers["graphql-require-preflight"] = "1"  # the server's CSRF rule for multipart requests
        transport = HTTPXTransport(self.endpoint, headers=headers, timeout=self.timeout)
        request = GraphQLRequest(document, variable_values=variables)
        try:
            with Client(transport=transport, execute_timeout=None) as session:
                result = session.execute(request, get_execution_result=True, upload_files=upload)
        except TransportQueryError as error:
            raise graphql_error(error.errors or [{"message": str(error)}]) from None
        except TransportServerError as error:
            raise AssayError(f"The server answered HTTP {error.code}: {error}", "INTERNAL") from None
        except TransportError as error:
            raise AssayError(f"Cannot reach Assay at {self.base}: {error}", "UNREACHABLE") from None
        if result.errors:
            raise graphql_error(result.errors)
        return result.data

    # -- datasets -------------------------------------------------------------------------------------------------

    def upload(
        self,
        path: Path,
        *,
        name: str | None = None,
        csv: dict | None = None,
        on_bytes: Callable[[int], object] | None = None,
    ) -> dict:
        """Send a file (multipart, streamed from disk); returns the payload with the dataset and its INGEST job."""
        if not path.is_file():
            raise AssayError(f"No such file: {path}", "INVALID_INPUT")
        stream = ProgressFile(path, on_bytes)
        try:
            content_type = (
                mimetypes.guess_type(path.name)[0] or "application/octet-stream"
            )  # a hint: the server reads the bytes
            variables = {
                "input": {
                    "file": FileVar(stream, filename=path.name, content_type=content_type),
                    "name": name,
                    "csv": csv,
                }
            }
            payload = self.execute(ops.UPLOAD, variables, upload=True)["uploadDataset"]
        finally:
            stream.close()
        raise_user_errors(payload)
        return payload

    def import_url(self, url: str, *, name: str | None = None, csv: dict | None = None) -> dict:
        """Ask the server to fetch an https:// file and ingest it; returns the payload with the dataset and its job."""
        payload = self.execute(ops.IMPORT, {"input": {"url": url, "name": name, "csv": csv}})["importDataset"]
        raise_user_errors(payload)
        return payload

    def datasets(self, *, first: int = 20, search: str | None = None) -> dict:
        return self.execute(ops.DATASETS, {"first": first, "search": search})["datasets"]

    def dataset(self, dataset_id: str) -> dict:
        return found(self.execute(ops.DATASET, {"id": dataset_id})["dataset"], "dataset", dataset_id)

    def profile(self, dataset_id: str) -> dict:
        return found(self.execute(ops.PROFILE, {"id": dataset_id})["dataset"], "dataset", dataset_id)

    def download_link(self, node_id: str, file_format: str | None = None) -> tuple[str, str]:
        """(absolute URL, suggested file name) of a dataset's data (csv, parquet), a model's export (joblib, skops,
        onnx) or a report; `file_format` None means the first of those."""
        chosen = (file_format or "").lower()
        variables = {
            "id": node_id,
            "data": chosen.upper() if chosen in DATA_FORMATS else "CSV",
            "model": chosen.upper() if chosen in MODEL_FORMATS else "JOBLIB",
        }
        node = found(
            self.execute(ops.DOWNLOAD_LINK, variables)["node"], "dataset, model, report or comparison", node_id
        )
        kind = node["__typename"]
        formats, url, default = {
            "Dataset": (DATA_FORMATS, node.get("downloadUrl"), "csv"),
            "Model": (MODEL_FORMATS, node.get("exportUrl"), "joblib"),
            "Report": (("html",), node.get("url"), "html"),
            "Comparison": (("html",), node.get("reportUrl"), "html"),
        }.get(kind, ((), None, ""))
        if url is None:
            raise AssayError(f"{node_id} is a {kind}, which has nothing to download", "INVALID_INPUT")
        if chosen and chosen not in formats:
            raise AssayError(
                f"A {kind.lower()} downloads as {' or '.join(formats)}, not {chosen}", "INVALID_INPUT", ["format"]
            )
        return self.base + url, with_suffix(node.get("name") or kind.lower(), chosen or default)

    def download(self, url: str, destination: Path, on_bytes: Callable[[int], object] | None = None) -> int:
        """Stream a signed link to a file (written beside it first, so a failure leaves no partial file)."""
        partial = destination.with_name(destination.name + ".part")
        written = 0
        try:
            with httpx.stream("GET", url, timeout=self.timeout) as response:
                if response.status_code != 200:
                    raise AssayError(f"The download was refused (HTTP {response.status_code})", "FORBIDDEN")
                with partial.open("wb") as file:
                    for chunk in response.iter_bytes(1 << 20):
                        file.write(chunk)
                        written += len(chunk)
                        if on_bytes:
                            on_bytes(len(chunk))
            os.replace(partial, destination)
        except httpx.HTTPError as error:
            raise AssayError(f"The download failed: {error}", "UNREACHABLE") from None
        finally:
            partial.unlink(missing_ok=True)
        return written

    # -- jobs ------------------------------------------------------------------------------------------------------

    def start(self, document: str, field: str, input_: dict) -> dict:
        """Run a mutation that starts a job; returns its payload (errors raised)."""
        payload = self.execute(document, {"input": input_})[field]
        raise_user_errors(payload)
        return payload

    def job(self, job_id: str) -> dict:
        return found(self.execute(ops.JOB, {"id": job_id})["job"], "job", job_id)

    def jobs(self, *, first: int = 20, status: list[str] | None = None, kind: list[str] | None = None) -> dict:
        return self.execute(ops.JOBS, {"first": first, "status": status, "kind": kind})["jobs"]

    def cancel(self, job_id: str) -> dict:
        return self.start(ops.CANCEL, "cancelJob", {"id": job_id})["job"]

    def answer(self, job_id: str, answer: str) -> dict:
        return self.start(ops.ANSWER, "answerJob", {"jobId": job_id, "answer": answer})["job"]

    def model(self, model_id: str) -> dict:
        return found(self.execute(ops.MODEL, {"id": model_id})["model"], "model", model_id)

    def predict(self, model_id: str, rows: list[dict], *, explain: bool = False) -> list[dict]:
        if explain:
            payload = self.execute(
                ops.PREDICT_EXPLAINED, {"input": {"modelId": model_id, "rows": rows, "explain": True}}
            )["predict"]
        else:
            payload = self.execute(ops.PREDICT, {"input": {"modelId": model_id, "rows": rows}})["predict"]
        raise_user_errors(payload)
        return payload["predictions"]

    # -- registry --------------------------------------------------------------------------------------------------

    def register_model(self, model_id: str, name: str, **options: Any) -> dict:
        return self.start(ops.REGISTER_MODEL, "registerModel", {"modelId": model_id, "name": name, **options})

    def set_model_alias(self, name: str, alias: str, version: int, comment: str | None = None) -> dict:
        return self.start(
            ops.SET_MODEL_ALIAS, "setModelAlias", {"name": name, "alias": alias, "version": version, "comment": comment}
        )

    def model_history(self, name: str, *, first: int = 20) -> dict:
        shown = self.execute(ops.MODEL_HISTORY, {"name": name, "first": first})["registeredModel"]
        if shown is None:
            raise AssayError(f"No registered model named {name}", "NOT_FOUND")
        return shown

    def suggest_checks(self, dataset_id: str) -> dict:
        return self.execute(ops.SUGGEST_CHECKS, {"datasetId": dataset_id})["suggestChecks"]

    def create_check_suite(self, dataset_id: str, name: str, checks: list[dict]) -> dict:
        return self.start(
            ops.CREATE_CHECK_SUITE, "createCheckSuite", {"datasetId": dataset_id, "name": name, "checks": checks}
        )

    def validate_dataset(self, dataset_id: str, suite_id: str) -> dict:
        return self.start(ops.VALIDATE_DATASET, "validateDataset", {"datasetId": dataset_id, "suiteId": suite_id})

    def validation(self, validation_id: str) -> dict:
        return found(self.execute(ops.VALIDATION, {"id": validation_id})["validation"], "validation", validation_id)

    def webhooks(self, *, first: int = 20) -> dict:
        return self.execute(ops.WEBHOOKS, {"first": first})["webhooks"]

    def create_webhook(self, url: str, events: list[str], **options: Any) -> dict:
        return self.start(ops.CREATE_WEBHOOK, "createWebhook", {"url": url, "events": events, **options})

    def delete_webhook(self, webhook_id: str) -> dict:
        return self.start(ops.DELETE_WEBHOOK, "deleteWebhook", {"id": webhook_id})

    def webhook_deliveries(self, webhook_id: str, *, first: int = 20, status: str | None = None) -> dict:
        shown = self.execute(ops.WEBHOOK_DELIVERIES, {"id": webhook_id, "first": first, "status": status})["webhook"]
        return found(shown, "webhook", webhook_id)

    async def job_events(self, job_id: str) -> AsyncIterator[dict]:
        """The job's events over WebSocket (graphql-transport-ws): backlog, then live, until the job ends.

        A dropped connection is resumed after the last log line seen, so no line is shown twice or lost."""
        after, attempts, refused = 0, 0, False
        while True:
            token = self.access_token(force_refresh=refused)
            transport = WebsocketsTransport(
                url=self.endpoint.replace("http", "ws", 1),
                init_payload={"authorization": f"Bearer {token}"},
                subprotocols=[WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL],
                connect_timeout=self.timeout,
                ack_timeout=self.timeout,
            )
            request = GraphQLRequest(ops.JOB_EVENTS, variable_values={"jobId": job_id, "after": after})
            try:
                async with Client(transport=transport, execute_timeout=None) as session:
                    async for event in session.subscribe(request):
                        attempts = 0
                        event = event["jobEvents"]
                        if event["logs"]:
                            after = event["logs"][-1]["seq"]
                        yield event
                        if event["job"]["status"] in FINISHED:
                            return
                return
            except TransportQueryError as error:
                raise graphql_error(error.errors or [{"message": str(error)}]) from None
            except (TransportError, OSError) as error:
                if close_code(error) in (4401, 4403):  # connection_init refused: the token, not the network
                    if refused:
                        raise AssayError(
                            f"{self.base} refused the login: run `assay login` again", "UNAUTHENTICATED"
                        ) from None
                    refused = True
                    continue
                attempts += 1
                if attempts > 3:
                    raise AssayError(f"Lost the connection to {self.base}: {error}", "UNREACHABLE") from None
                await asyncio.sleep(0.5 * attempts)


def with_suffix(name: str, suffix: str) -> str:
    """`sales.csv` as Parquet is `sales.parquet`, not `sales.csv.parquet`."""
    stem = re.sub(r"(\.(csv|tsv|txt|gz|parquet))+$", "", name, flags=re.IGNORECASE) or name
    return f"{stem}.{suffix}"
