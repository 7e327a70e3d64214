"""Plain HTTP routes: root, health for load balancers, signed file downloads."""
from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response

from resolvers.context import AppState
from resolvers.system import health
from services import datasets as dataset_service
from services import files
from services.modeling import export
from services.storage.tables import Dataset, Model, Report


def _state(request: Request) -> AppState:
    return request.app.state.assay


async def root(request: Request) -> JSONResponse:
    state = _state(request)
    return JSONResponse({"name": "Assay", "version": state.version, "graphql": "/graphql"})


async def health_check(request: Request) -> JSONResponse:
    report = await health(_state(request))
    body = {"status": report.status, "version": report.version, "time": report.time.isoformat(),
            "active_jobs": report.active_jobs, "database": report.database}
    return JSONResponse(body, status_code=200 if report.database else 503)


def _refuse(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


async def download_dataset(request: Request) -> Response:
    """Serve a dataset to whoever holds a valid token for it; a wrong or expired token gets 403."""
    state = _state(request)
    dataset_id, fmt = request.path_params["dataset_id"], request.path_params["fmt"].upper()
    if fmt not in ("CSV", "PARQUET"):
        return _refuse(404, "Unknown format")
    owner = files.verify_download(request.query_params.get("token", ""), secret=state.settings.resolved_secret_key,
                                  kind="dataset", object_id=dataset_id, fmt=fmt)
    if owner is None:
        return _refuse(403, "This link is invalid or has expired")
    async with state.sessions() as session:
        dataset = await session.get(Dataset, dataset_id)
    if dataset is None or dataset.owner_id != owner:
        return _refuse(404, "Not found")
    if dataset.status != "READY":
        return _refuse(409, f"The dataset is {dataset.status}, not READY")
    data_dir = state.settings.resolved_data_dir
    stem = dataset.name.rsplit(".", 1)[0] if dataset.name.lower().endswith((".csv", ".tsv", ".txt", ".gz")) else dataset.name
    if fmt == "CSV":
        path = await asyncio.to_thread(dataset_service.csv_export, data_dir, dataset_id)
        return FileResponse(path, media_type="text/csv", filename=f"{stem}.csv")
    return FileResponse(files.parquet_path(data_dir, dataset_id), media_type="application/vnd.apache.parquet",
                        filename=f"{stem}.parquet")


async def download_plot(request: Request) -> Response:
    """Serve a profile plot PNG to the holder of a valid token for exactly this file."""
    state = _state(request)
    dataset_id, name = request.path_params["dataset_id"], request.path_params["name"]
    if not files.SAFE_PLOT_NAME.match(name):
        return _refuse(404, "Not found")
    owner = files.verify_download(request.query_params.get("token", ""), secret=state.settings.resolved_secret_key,
                                  kind="plot", object_id=dataset_id, fmt=name)
    if owner is None:
        return _refuse(403, "This link is invalid or has expired")
    async with state.sessions() as session:
        dataset = await session.get(Dataset, dataset_id)
    path = files.plots_dir(state.settings.resolved_data_dir, dataset_id) / name
    if dataset is None or dataset.owner_id != owner or not path.exists():
        return _refuse(404, "Not found")
    return FileResponse(path, media_type="image/png")


async def download_model(request: Request) -> Response:
    """Serve a model file (JOBLIB or SKOPS) to the holder of a valid token for exactly this model and format."""
    state = _state(request)
    model_id, fmt = request.path_params["model_id"], request.path_params["fmt"].upper()
    if fmt not in export.EXPORT_FORMATS:
        return _refuse(404, "Unknown format")
    owner = files.verify_download(request.query_params.get("token", ""), secret=state.settings.resolved_secret_key,
                                  kind="model", object_id=model_id, fmt=fmt)
    if owner is None:
        return _refuse(403, "This link is invalid or has expired")
    async with state.sessions() as session:
        model = await session.get(Model, model_id)
    if model is None or model.owner_id != owner or model.status != "READY":
        return _refuse(404, "Not found")
    path = await asyncio.to_thread(export.export_path, state.settings.resolved_data_dir, model_id, fmt)
    return FileResponse(path, media_type="application/octet-stream", filename=f"model-{model_id[:8]}.{fmt.lower()}")


async def download_report(request: Request) -> Response:
    """Serve a report's HTML to the holder of a valid token for exactly this report."""
    state = _state(request)
    report_id = request.path_params["report_id"]
    owner = files.verify_download(request.query_params.get("token", ""), secret=state.settings.resolved_secret_key,
                                  kind="report", object_id=report_id, fmt="HTML")
    if owner is None:
        return _refuse(403, "This link is invalid or has expired")
    async with state.sessions() as session:
        report = await session.get(Report, report_id)
    path = files.report_path(state.settings.resolved_data_dir, report_id)
    if report is None or report.owner_id != owner or not path.exists():
        return _refuse(404, "Not found")
    # The report is self-contained: forbid scripts and any fetch but images (the optional logo).
    policy = "default-src 'none'; style-src 'unsafe-inline'; img-src data: https: http:"
    return FileResponse(path, media_type="text/html; charset=utf-8", headers={"Content-Security-Policy": policy})
