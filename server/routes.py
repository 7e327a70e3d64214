"""Plain HTTP routes: root, health for load balancers, signed file downloads."""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, RedirectResponse, Response

from resolvers.context import AppState
from resolvers.system import health
from services import files
from services.comparison import job as comparison_files
from services.comparison.plots import SAFE_NAME as SAFE_OVERLAY_NAME
from services.datasets import DatasetStatus
from services.datasets import service as dataset_service
from services.errors import ErrorCode, ServiceError
from services.jobs.status import JobStatus
from services.modeling import ModelStatus, export
from services.profiling import plots
from services.storage import objects
from services.storage.tables import Comparison, Dataset, Job, Model, Report


def _state(request: Request) -> AppState:
    return request.app.state.assay


async def root(request: Request) -> JSONResponse:
    state = _state(request)
    return JSONResponse({"name": "Assay", "version": state.version, "graphql": "/graphql"})


async def health_check(request: Request) -> JSONResponse:
    report = await health(_state(request))
    body = {
        "status": report.status,
        "version": report.version,
        "time": report.time.isoformat(),
        "active_jobs": report.active_jobs,
        "database": report.database,
    }
    if report.redis is not None:
        body["redis"] = report.redis
    return JSONResponse(body, status_code=200 if report.status == "ok" else 503)


def _refuse(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


async def _owned(
    request: Request, table: type[Any], kind: str, object_id: str, fmt: str
) -> tuple[Any, JSONResponse | None]:
    """The row a signed link names, if its token is valid for exactly this object and format and its owner's."""
    state = _state(request)
    owner = files.verify_download(
        request.query_params.get("token", ""),
        secret=state.settings.resolved_secret_key,
        kind=kind,
        object_id=object_id,
        fmt=fmt,
    )
    if owner is None:
        return None, _refuse(403, "This link is invalid or has expired")
    async with state.sessions() as session:
        row = await session.get(table, object_id)
    if row is None or row.owner_id != owner:
        return None, _refuse(404, "Not found")
    return row, None


async def _serve(
    state: AppState,
    path,
    *,
    media_type: str,
    filename: str | None = None,
    headers: dict[str, str] | None = None,
    presign: bool = True,
) -> Response:
    """A stored file, once the token was checked: with an object store and ASSAY_STORAGE_DOWNLOADS=presigned, a
    redirect to a short-lived presigned URL of the store (the bytes never pass through the replica); else the
    file streamed from this replica's copy, fetched into its cache first."""
    store = objects.current()
    if store is not None and presign and state.settings.storage_downloads == "presigned":
        key = store.key(path)
        if key is not None and await asyncio.to_thread(store.head, key) is not None:
            url = await asyncio.to_thread(
                store.presign,
                key,
                seconds=max(60, round(state.settings.download_url_minutes * 60)),
                file_name=filename,
                media_type=media_type,
            )
            return RedirectResponse(url, status_code=307)
    path = await asyncio.to_thread(files.fetched, path)
    if not path.exists():
        return _refuse(404, "Not found")
    return FileResponse(path, media_type=media_type, filename=filename, headers=headers)


async def download_dataset(request: Request) -> Response:
    """Serve a dataset to whoever holds a valid token for it; a wrong or expired token gets 403."""
    state = _state(request)
    dataset_id, fmt = request.path_params["dataset_id"], request.path_params["fmt"].upper()
    if fmt not in ("CSV", "PARQUET", "REJECTS"):
        return _refuse(404, "Unknown format")
    dataset, refusal = await _owned(request, Dataset, "dataset", dataset_id, fmt)
    if refusal is not None:
        return refusal
    if dataset.status != DatasetStatus.READY:
        return _refuse(409, f"The dataset is {dataset.status}, not READY")
    data_dir = state.settings.resolved_data_dir
    stem = (
        dataset.name.rsplit(".", 1)[0]
        if dataset.name.lower().endswith((".csv", ".tsv", ".txt", ".gz"))
        else dataset.name
    )
    if fmt == "REJECTS":
        rejects = files.rejects_path(data_dir, dataset_id)
        if not await asyncio.to_thread(files.kept, rejects):
            return _refuse(404, "No lines of this dataset were rejected")
        return await _serve(state, rejects, media_type="text/csv", filename=f"{stem}-rejected-lines.csv")
    if fmt == "CSV":
        path = await asyncio.to_thread(dataset_service.csv_export, data_dir, dataset_id)
        return await _serve(state, path, media_type="text/csv", filename=f"{stem}.csv")
    return await _serve(
        state,
        files.parquet_path(data_dir, dataset_id),
        media_type="application/vnd.apache.parquet",
        filename=f"{stem}.parquet",
    )


async def download_plot(request: Request) -> Response:
    """Serve a profile plot PNG to the holder of a valid token for exactly this file."""
    state = _state(request)
    dataset_id, name = request.path_params["dataset_id"], request.path_params["name"]
    if not files.SAFE_PLOT_NAME.match(name):
        return _refuse(404, "Not found")
    _, refusal = await _owned(request, Dataset, "plot", dataset_id, name)
    if refusal is not None:
        return refusal
    # Drawn from the stored profile on first request, then kept (services/profiling/plots.py says why)
    path = await asyncio.to_thread(plots.ensure_plot, state.settings.resolved_data_dir, dataset_id, name)
    if path is None:
        return _refuse(404, "Not found")
    return FileResponse(path, media_type="image/png")


async def download_model(request: Request) -> Response:
    """Serve a model file (JOBLIB, PICKLE, SKOPS or ONNX) to the holder of a valid token for exactly this model
    and format."""
    state = _state(request)
    model_id, fmt = request.path_params["model_id"], request.path_params["fmt"].upper()
    if fmt not in export.EXPORT_FORMATS:
        return _refuse(404, "Unknown format")
    model, refusal = await _owned(request, Model, "model", model_id, fmt)
    if refusal is not None:
        return refusal
    if model.status != ModelStatus.READY:
        return _refuse(404, "Not found")
    try:
        path = await asyncio.to_thread(export.export_path, state.settings.resolved_data_dir, model, fmt)
    except ServiceError as exc:  # exportUrl already converted it; this is a link made before a failure
        return _refuse(404 if exc.code == ErrorCode.NOT_FOUND else 409, exc.message)
    return await _serve(
        state,
        path,
        media_type="application/octet-stream",
        filename=f"model-{model_id[:8]}.{export.FILE_EXTENSIONS[fmt]}",
    )


async def download_report(request: Request) -> Response:
    """Serve a report's HTML to the holder of a valid token for exactly this report."""
    state = _state(request)
    report_id = request.path_params["report_id"]
    _, refusal = await _owned(request, Report, "report", report_id, "HTML")
    if refusal is not None:
        return refusal
    path = files.report_path(state.settings.resolved_data_dir, report_id)
    # The report is self-contained: forbid scripts and any fetch but images (the optional logo). Always
    # streamed from here, never presigned: the store would serve the HTML without this policy.
    policy = "default-src 'none'; style-src 'unsafe-inline'; img-src data: https: http:"
    return await _serve(
        state, path, media_type="text/html; charset=utf-8", headers={"Content-Security-Policy": policy}, presign=False
    )


# The report is self-contained: forbid scripts and any fetch but inline images.
COMPARISON_REPORT_POLICY = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"


async def download_comparison_report(request: Request) -> Response:
    """Serve a comparison's HTML report to the holder of a valid token for exactly this comparison."""
    comparison_id = request.path_params["comparison_id"]
    _, refusal = await _owned(request, Comparison, "comparison", comparison_id, "HTML")
    if refusal is not None:
        return refusal
    path = comparison_files.report_path(_state(request).settings.resolved_data_dir, comparison_id)
    return await _serve(
        _state(request),
        path,
        media_type="text/html; charset=utf-8",
        headers={"Content-Security-Policy": COMPARISON_REPORT_POLICY},
        presign=False,
    )


async def download_comparison_plot(request: Request) -> Response:
    """Serve a comparison's overlay PNG to the holder of a valid token for exactly this file."""
    comparison_id, name = request.path_params["comparison_id"], request.path_params["name"]
    if not SAFE_OVERLAY_NAME.match(name):
        return _refuse(404, "Not found")
    _, refusal = await _owned(request, Comparison, "comparison-plot", comparison_id, name)
    if refusal is not None:
        return refusal
    path = comparison_files.comparison_dir(_state(request).settings.resolved_data_dir, comparison_id) / name
    return await _serve(_state(request), path, media_type="image/png")


async def download_job_file(request: Request) -> Response:
    """Serve the file a SUCCEEDED job made to the holder of a valid token for exactly this job; where the file is
    comes from its kind's declaration (JobKindSpec.file), so a kind that makes a file needs no route of its own."""
    state = _state(request)
    job, refusal = await _owned(request, Job, "job", request.path_params["job_id"], "FILE")
    if refusal is not None:
        return refusal
    spec = state.jobs.kinds.get(job.kind)
    made = spec.file(state.settings.resolved_data_dir, job) if spec is not None and spec.file is not None else None
    if job.status != JobStatus.SUCCEEDED or made is None:
        return _refuse(404, "Not found")
    return await _serve(state, made.path, media_type=made.media_type, filename=made.filename)
