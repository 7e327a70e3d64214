"""One function per `assay` command: call the client, print the result (a table, or JSON with --json), return
the exit code. Results go to stdout; progress bars, live logs and questions go to stderr."""

from __future__ import annotations

import csv
import getpass
import json
import math
import os
import re
import sys
import webbrowser
from argparse import Namespace
from pathlib import Path
from typing import Any

from tqdm import tqdm

from client import operations as ops
from client import render
from client.api import AssayClient
from client.errors import AssayError
from client.follow import Answerer, ask_choice, follow_job

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_AUTH, EXIT_NOT_FOUND, EXIT_JOB_FAILED, EXIT_JOB_CANCELLED, EXIT_UNREACHABLE = (
    range(8)
)
EXIT_INTERRUPTED = 130
JOB_EXIT = {"SUCCEEDED": EXIT_OK, "FAILED": EXIT_JOB_FAILED, "CANCELLED": EXIT_JOB_CANCELLED}
PREDICT_BATCH = 1000  # the server's most rows per predict call
EXPLAIN_SAMPLED_BATCH = 50  # ... and with explain, for a model whose explanations are sampled (KERNEL_SHAP)


def output(args: Namespace, data: Any, human: str | None = None) -> None:
    print(json.dumps(data, indent=2) if args.json else (human if human is not None else data))


def show_progress(args: Namespace) -> bool:
    return not args.json or sys.stderr.isatty()


def job_log(args: Namespace):
    """Where a command that waits for its job writes the live log: stderr, so stdout holds only the result."""
    return None if args.json and not sys.stderr.isatty() else sys.stderr


def finish_job(args: Namespace, client: AssayClient, job: dict, answer: Answerer | None = None) -> dict:
    """Follow a started job; a job that did not succeed becomes an error (exit 5 failed, 6 cancelled)."""
    print(f"Job {job['id']} ({job['kind']}) started; Ctrl-C stops watching, not the job.", file=sys.stderr)
    final = follow_job(client, job["id"], log=job_log(args), answer=answer)
    if final["status"] != "SUCCEEDED":
        raise JobEnded(final)
    return final


class JobEnded(Exception):
    def __init__(self, job: dict) -> None:
        super().__init__(f"Job {job['id']} {job['status'].lower()}" + (f": {job['error']}" if job.get("error") else ""))
        self.job = job


def password_for(args: Namespace) -> str:
    password = args.password or os.environ.get("ASSAY_PASSWORD")
    if password:
        return password
    if not sys.stdin.isatty():
        raise AssayError(
            "No password: pass --password, set ASSAY_PASSWORD, or run in a terminal to be asked", "INVALID_INPUT"
        )
    return getpass.getpass("Password: ")


def login(args: Namespace, client: AssayClient) -> int:
    method = client.register if args.command == "register" else client.login
    user = method(args.email, password_for(args))
    output(args, {"url": client.base, "user": user}, f"Logged in to {client.base} as {user['email']}")
    return EXIT_OK


def logout(args: Namespace, client: AssayClient) -> int:
    removed = client.logout()
    output(
        args,
        {"url": client.base, "loggedOut": removed},
        f"Logged out of {client.base}" if removed else f"Not logged in to {client.base}",
    )
    return EXIT_OK


def _csv_options(args: Namespace) -> dict:
    return {
        key: value
        for key, value in {
            "delimiter": args.delimiter,
            "encoding": args.encoding,
            "hasHeader": args.header,
            "naValues": args.na,
            "onBadLines": args.bad_lines,
            "sheet": args.sheet,
        }.items()
        if value is not None
    }


def import_url(args: Namespace, client: AssayClient) -> int:
    """The server fetches the file: nothing passes through this machine; its INGEST log shows the download."""
    payload = client.import_url(args.file_url, name=args.name, csv=_csv_options(args) or None)
    return _show_ingested(args, client, payload)


def _show_ingested(args: Namespace, client: AssayClient, payload: dict[str, Any]) -> int:
    """After an upload or import: follow its INGEST job, then show the dataset's columns."""
    finish_job(args, client, payload["job"])
    dataset = client.dataset(payload["dataset"]["id"])
    dataset.pop("profile", None)
    output(args, dataset, f"{render.dataset_heading(dataset)}\n\n{render.columns_table(dataset['columns'])}")
    return EXIT_OK


def _byte_progress(args: Namespace, desc: str, total: int | None = None) -> tqdm:
    """A transfer's progress in bytes, on stderr so --json output stays clean."""
    return tqdm(
        total=total,
        unit="B",
        unit_scale=True,
        unit_divisor=1024,
        desc=desc,
        file=sys.stderr,
        disable=not show_progress(args),
        leave=True,
    )


def upload(args: Namespace, client: AssayClient) -> int:
    path = Path(args.file)
    csv_options = _csv_options(args)
    if not path.is_file():
        raise AssayError(f"No such file: {path}", "INVALID_INPUT")
    client.access_token()  # not logged in: say so before drawing a progress bar
    with _byte_progress(args, f"Uploading {path.name}", total=path.stat().st_size) as bar:
        payload = client.upload(path, name=args.name, csv=csv_options or None, on_bytes=bar.update)
    return _show_ingested(args, client, payload)


def datasets(args: Namespace, client: AssayClient) -> int:
    connection = client.datasets(first=args.first, search=args.search)
    items = [edge["node"] for edge in connection["edges"]]
    more = f"\n({connection['totalCount']} in all; --first shows more)" if connection["pageInfo"]["hasNextPage"] else ""
    output(args, items, render.datasets_table(items) + more if items else "No datasets yet: `assay upload FILE`")
    return EXIT_OK


def show(args: Namespace, client: AssayClient) -> int:
    dataset = client.dataset(args.dataset)
    profile = dataset.get("profile")
    alerts = (
        f"Alerts:\n{render.alerts_lines(profile['alerts'])}"
        if profile
        else f"No profile yet: `assay profile {dataset['id']}` finds alerts"
    )
    error = f"\nError: {dataset['error']}" if dataset.get("error") else ""
    output(
        args,
        dataset,
        f"{render.dataset_heading(dataset)}{error}\n\n{render.columns_table(dataset['columns'])}\n\n{alerts}",
    )
    return EXIT_OK


def profile(args: Namespace, client: AssayClient) -> int:
    if not args.stored:
        job = client.start(
            ops.PROFILE_DATASET, "profileDataset", {"datasetId": args.dataset, "plots": args.plots, "bins": args.bins}
        )["job"]
        finish_job(args, client, job)
    dataset = client.profile(args.dataset)
    if dataset["profile"] is None:
        raise AssayError(f"Dataset {args.dataset} has no profile yet: run `assay profile {args.dataset}`", "NOT_FOUND")
    output(args, dataset, render.profile_summary(dataset))
    return EXIT_OK


def train(args: Namespace, client: AssayClient) -> int:
    payload = client.start(
        ops.TRAIN,
        "trainModel",
        {
            "datasetId": args.dataset,
            "target": args.target,
            "timeBudgetSeconds": args.budget,
            "name": args.name,
            "algorithms": args.algorithm,
        },
    )
    finish_job(args, client, payload["job"])
    model = client.model(payload["model"]["id"])
    output(args, model, render.model_summary(model))
    return EXIT_OK


def predict(args: Namespace, client: AssayClient) -> int:
    model = client.model(args.model)
    kinds = {feature["name"]: feature["semanticType"] for feature in model["features"]}
    with open(args.file, newline="", encoding="utf-8-sig") as file:
        reader = csv.DictReader(file)
        header = list(reader.fieldnames or [])
        ignored = [name for name in header if name not in kinds]
        if ignored:
            print(f"Ignoring columns the model does not use: {', '.join(ignored)}", file=sys.stderr)
        rows = list(reader)
    predictions: list[dict] = []
    explain = getattr(args, "explain", False)
    start, size = 0, EXPLAIN_SAMPLED_BATCH if explain else PREDICT_BATCH
    while start < len(rows):
        batch = [
            {name: typed(row.get(name), kind) for name, kind in kinds.items() if name in header}
            for row in rows[start : start + size]
        ]
        start += size
        try:
            predictions += client.predict(model["id"], batch, explain=explain)  # a reference resolved once
            if explain and predictions[0]["explanation"]["exact"]:
                size = PREDICT_BATCH  # only sampled explanations are limited to a few rows per call
        except AssayError as error:
            raise AssayError(
                f"{error} (at {'/'.join(error.field)})" if error.field else str(error), error.code, error.field
            ) from None
    if args.json:
        output(args, predictions)
        return EXIT_OK
    labels = model.get("classes") or []
    writer = csv.writer(sys.stdout, lineterminator="\n")
    explained = explanation_columns(predictions[0]) if explain and predictions else []
    writer.writerow(header + ["prediction"] + [f"probability_{label}" for label in labels] + explained)
    for row, prediction in zip(rows, predictions, strict=True):
        probabilities = {p["label"]: p["probability"] for p in prediction.get("probabilities") or []}
        writer.writerow(
            [row.get(name, "") for name in header]
            + [prediction["value"]]
            + [probabilities.get(label, "") for label in labels]
            + (explanation_values(prediction) if explained else [])
        )
    return EXIT_OK


def explanation_columns(prediction: dict) -> list[str]:
    """The names predictDataset gives the same numbers (docs/explanations.md)."""
    names = []
    for output in prediction["explanation"]["outputs"]:
        prefix = "contrib__" if output["label"] is None else f"contrib__{output['label']}__"
        names += [prefix + c["feature"] for c in output["contributions"]]
        names.append("base_value" if output["label"] is None else f"base_value__{output['label']}")
    return names


def explanation_values(prediction: dict) -> list[float]:
    values = []
    for output in prediction["explanation"]["outputs"]:
        values += [c["contribution"] for c in output["contributions"]] + [output["baseValue"]]
    return values


def typed(value: str | None, semantic_type: str) -> Any:
    """CSV text to the JSON value predict checks against the model's signature; empty is missing."""
    if value is None or value == "":
        return None
    if semantic_type == "NUMERIC":
        try:
            number = float(value)
        except ValueError:
            return value  # the server names the row and column of a value of the wrong type
        if not math.isfinite(number):
            return None  # "nan", "inf": JSON has no such numbers; missing is what they mean in a CSV
        return int(number) if number.is_integer() and "." not in value and "e" not in value.lower() else number
    if semantic_type == "BOOLEAN":
        lowered = value.strip().lower()
        if lowered in ("true", "yes", "1", "t", "y"):
            return True
        if lowered in ("false", "no", "0", "f", "n"):
            return False
    return value


def analyze(args: Namespace, client: AssayClient) -> int:
    job = client.start(ops.ANALYZE, "analyzeDataset", {"datasetId": args.dataset, "target": args.target})["job"]
    finish_job(args, client, job, answer=ask_choice)
    final = client.job(job["id"])
    report = client.base + final["report"]["url"] if final.get("report") else None
    model = final["report"]["model"] if final.get("report") else None
    output(
        args,
        {**final, "reportUrl": report},
        f"Analysis done.\nModel: {model['id'] if model else 'none'}\nReport: {report or 'none'}",
    )
    return EXIT_OK


def answer(args: Namespace, client: AssayClient) -> int:
    job = client.answer(args.job, args.answer)
    output(args, job, f"Job {job['id']}: {job['status']}")
    return EXIT_OK


def report(args: Namespace, client: AssayClient) -> int:
    job = client.start(ops.REPORT, "generateReport", {"datasetId": args.dataset, "modelId": args.model})["job"]
    finish_job(args, client, job)
    url = client.base + client.job(job["id"])["report"]["url"]
    if args.open and not webbrowser.open(url):
        print("Could not start a browser; open the link yourself.", file=sys.stderr)
    output(args, {"url": url, "jobId": job["id"]}, url)
    return EXIT_OK


def jobs(args: Namespace, client: AssayClient) -> int:
    connection = client.jobs(first=args.first, status=args.status, kind=args.kind)
    items = [edge["node"] for edge in connection["edges"]]
    output(args, items, render.jobs_table(items) if items else "No jobs")
    return EXIT_OK


def watch(args: Namespace, client: AssayClient) -> int:
    def print_event(event: dict) -> None:
        if args.json:
            print(json.dumps(event), flush=True)

    final = follow_job(client, args.job, log=None if args.json else sys.stdout, events=print_event)
    if not args.json:
        print(f"Job {args.job} {final['status']}" + (f": {final['error']}" if final.get("error") else ""))
    return JOB_EXIT.get(final["status"], EXIT_ERROR)


def cancel(args: Namespace, client: AssayClient) -> int:
    job = client.cancel(args.job)
    note = "" if job["status"] == "CANCELLED" else " (a running job stops within seconds)"
    output(args, job, f"Job {job['id']}: {job['status']}{note}")
    return EXIT_OK


def download(args: Namespace, client: AssayClient) -> int:
    url, suggested = client.download_link(args.id, args.format)
    destination = Path(args.output) if args.output else Path.cwd() / safe_name(suggested)
    with _byte_progress(args, f"Downloading {destination.name}") as bar:
        written = client.download(url, destination, on_bytes=bar.update)
    output(args, {"path": str(destination), "bytes": written}, f"Saved {destination} ({render.size(written)})")
    return EXIT_OK


def safe_name(name: str) -> str:
    """A dataset's name is the user's text: keep it to one plain file name in the current directory."""
    cleaned = re.sub(r"[^\w.-]+", "_", name).strip("._")
    return cleaned or "download"


def compare(args: Namespace, client: AssayClient) -> int:
    """Compare two dataset versions; exit 0 whatever the verdict (drift is a finding, not a failure)."""
    tests = []
    if args.method or args.threshold is not None:
        tests.append({"method": args.method, "threshold": args.threshold})
    job = client.start(
        ops.COMPARE,
        "compareDatasets",
        {"referenceId": args.reference, "currentId": args.current, "columns": args.column, "tests": tests or None},
    )["job"]
    finish_job(args, client, job)
    comparison = client.execute(ops.COMPARISON_OF_JOB, {"id": job["id"]})["job"]["comparison"]
    comparison["reportUrl"] = client.base + comparison["reportUrl"]
    if args.open and not webbrowser.open(comparison["reportUrl"]):
        print("Could not start a browser; open the link yourself.", file=sys.stderr)
    output(args, comparison, render.comparison_summary(comparison))
    return EXIT_OK
