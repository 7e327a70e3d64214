"""The real Assay app plus one bench-only job kind that logs N lines, and a route to start it.

Run by bench/events.py and bench/responsiveness.py in a separate process: `python bench/events_server.py PORT DATA_DIR`.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import uvicorn
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from server.app import create_app
from server.settings import Settings
from services.jobs.context import JobContext
from services.jobs.kinds import JobHooks, JobKindSpec, NoResult


def emit_logs(ctx: JobContext) -> dict:
    """Bench job body: log `lines` lines, optionally paced, reporting progress as it goes."""
    lines, pause = int(ctx.params["lines"]), float(ctx.params.get("pause", 0))
    time.sleep(float(ctx.params.get("delay", 0)))  # lets subscribers attach before the first line
    for index in range(lines):
        ctx.log(f"line {index}")
        if index % 100 == 0:
            ctx.progress(index / lines)
        if pause:
            time.sleep(pause)
    return {}


def burn_cpu(ctx: JobContext) -> dict:
    """Bench job body shaped like training: a scikit-learn random forest fit on synthetic data."""
    from sklearn.datasets import make_classification
    from sklearn.ensemble import RandomForestClassifier

    features, target = make_classification(n_samples=int(ctx.params.get("rows", 50_000)), n_features=30, random_state=0)
    ctx.log("fitting")
    RandomForestClassifier(n_estimators=int(ctx.params.get("trees", 100)), n_jobs=1, random_state=0).fit(
        features, target
    )
    return {}


async def _nothing(session, job, result) -> None:
    return None


def main() -> None:
    port, data_dir = int(sys.argv[1]), sys.argv[2]
    settings = Settings(data_dir=Path(data_dir), port=port, requests_per_minute=10_000_000)
    app = create_app(settings)
    state = app.state.assay
    state.jobs.kinds["ANALYZE"] = JobKindSpec(
        work="events_server:emit_logs", hooks=JobHooks(on_success=_nothing, on_failure=_nothing), result=NoResult
    )
    state.jobs.kinds["TRAIN"] = JobKindSpec(
        work="events_server:burn_cpu", hooks=JobHooks(on_success=_nothing, on_failure=_nothing), result=NoResult
    )

    async def start_job(request: Request) -> JSONResponse:
        body = await request.json()
        async with state.sessions() as session:
            job = await state.jobs.enqueue(session, owner_id=body["owner_id"], kind=body["kind"], params=body["params"])
            await session.commit()
        state.jobs.launch(job)
        return JSONResponse({"job_id": job.id})

    app.router.routes.insert(0, Route("/bench/jobs", start_job, methods=["POST"]))
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        ws_max_queue=100_000,
        ws_per_message_deflate=settings.ws_compression,
    )


if __name__ == "__main__":
    main()
