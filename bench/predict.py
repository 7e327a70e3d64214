"""Single-row `predict` latency against the empty round trip `{ health { status } }`, for every algorithm AUTO
can choose, on one kept-alive connection (issue 26, item 9: at most 2x health).

Usage: .venv/bin/python bench/predict.py [--rounds=N] [--profile=PATH] [--breakdown] [--only=ALGORITHM,...]
Classifiers on breast_cancer (30 numeric features), regressors on diabetes (10). Health and predict
requests alternate on the same connection, so both see the same machine load; the table gives each
one's p50 and p99 and the ratio of the p50s. --profile runs the server under cProfile and writes its
stats to PATH when it stops (for the breakdown; the figures of such a run are not the ones to quote).
--breakdown also times, in this process and on the models the server saved, the parts of a predict that
health does not have: GraphQL parse + validation of the document, the model's row read, the thread hop,
the row check, the preparation (scikit-learn's ColumnTransformer, and services.modeling.few_rows as predict
now does it) and the estimator: p50 of 200 each, in ms of CPU time (the hop and the row read: wall time).
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
import pandas as pd
from sklearn import datasets as skd

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))  # this checkout's services (the breakdown imports them), as the server's cwd does
from calibrate import machine_line
from harness import _serving, gql, print_table, register, upload_and_ingest, wait_for_job_over_websocket

TRAIN = (
    "mutation($input: TrainModelInput!) { trainModel(input: $input) { model { id } job { id } "
    "errors { code message } } }"
)
PREDICT = (
    "mutation($id: ID!, $rows: [JSON!]!) { predict(input: {modelId: $id, rows: $rows}) "
    "{ predictions { value probabilities { label probability } } errors { message } } }"
)
HEALTH = "{ health { status } }"
CLASSIFIERS = [
    "HIST_GRADIENT_BOOSTING",
    "LOGISTIC_REGRESSION",
    "EXTRA_TREES",
    "RANDOM_FOREST",
]  # services.modeling.tasks
REGRESSORS = ["HIST_GRADIENT_BOOSTING", "RIDGE", "LINEAR_REGRESSION", "EXTRA_TREES", "RANDOM_FOREST"]


def frame_of(loader) -> pd.DataFrame:
    frame = loader(as_frame=True).frame
    frame.columns = [str(c).replace(" ", "_").replace("(", "").replace(")", "") for c in frame.columns]
    return frame


def train(base: str, token: str, dataset_id: str, task: str, algorithm: str) -> str:
    started = gql(
        base,
        TRAIN,
        {"input": {"datasetId": dataset_id, "target": "target", "task": task, "algorithms": [algorithm], "cvFolds": 2}},
        token,
    )["data"]["trainModel"]
    assert not started["errors"], started
    wait_for_job_over_websocket(base, token, started["job"]["id"], timeout=600)
    return started["model"]["id"]


def percentiles(timings: list[float]) -> tuple[float, float]:
    timings = sorted(timings)
    return statistics.median(timings), timings[max(0, int(0.99 * len(timings)) - 1)]


def measure(client: httpx.Client, token: str, model_id: str, row: dict, rounds: int) -> tuple[list[float], list[float]]:
    """Alternating health and predict requests on one connection; the first 20 of each warm up (model load)."""
    headers = {"authorization": f"Bearer {token}"}
    health, predict = [], []
    for index in range(rounds + 20):
        began = time.perf_counter()
        answer = client.post("/graphql", json={"query": HEALTH}, headers=headers).json()
        middle = time.perf_counter()
        predicted = client.post(
            "/graphql", json={"query": PREDICT, "variables": {"id": model_id, "rows": [row]}}, headers=headers
        ).json()
        ended = time.perf_counter()
        assert answer["data"]["health"]["status"], answer
        assert not predicted["data"]["predict"]["errors"], predicted
        if index >= 20:
            health.append((middle - began) * 1000)
            predict.append((ended - middle) * 1000)
    return health, predict


def p50_ms(work, repeats: int = 200) -> float:
    """CPU time of this thread (a loaded machine stretches wall time by whatever else runs)."""
    timings = []
    for _ in range(repeats):
        began = time.thread_time()
        work()
        timings.append((time.thread_time() - began) * 1000)
    return statistics.median(timings)


def breakdown(data_dir: Path, model_id: str, row: dict) -> str:
    """Where a predict's own time goes, part by part, in this process (the server runs the same code)."""
    import asyncio

    import graphql
    from sqlmodel import select

    from schema.common import raw_id
    from schema.root import create_schema
    from services.modeling import service
    from services.storage import db
    from services.storage.tables import Model

    model_id = raw_id(model_id, "Model")
    schema = create_schema()._schema
    documents = {"health": HEALTH, "predict": PREDICT}
    parse = {name: p50_ms(lambda q=q: graphql.validate(schema, graphql.parse(q))) for name, q in documents.items()}
    engine = db.create_engine(f"sqlite+aiosqlite:///{data_dir / 'assay.db'}")
    sessions = db.session_factory(engine)

    async def read_row() -> Model:
        async with sessions() as session:
            return (await session.exec(select(Model).where(Model.id == model_id))).one()

    async def hops() -> tuple[float, float, Model]:
        timings, reads = [], []
        for _ in range(300):
            began = time.perf_counter()
            await asyncio.to_thread(lambda: None)
            timings.append((time.perf_counter() - began) * 1000)
            began = time.perf_counter()
            model = await read_row()
            reads.append((time.perf_counter() - began) * 1000)
        return statistics.median(timings), statistics.median(reads), model

    hop, read, model = asyncio.run(hops())
    asyncio.run(engine.dispose())
    features = model.details["features"]
    pipeline = service.load_pipeline(data_dir, model_id)
    from services.modeling import few_rows

    frame = service.check_rows([row], features)
    columns = service.checked_columns([row], features)
    plan = few_rows.plan_for(pipeline)
    prepared = pipeline[:-1].transform(frame)
    method = "predict_proba" if model.task == "CLASSIFICATION" else "predict"
    estimator = pipeline[-1]
    return (
        f"| {model.task.lower()} | {model.algorithm} | {parse['predict'] - parse['health']:.2f} | {read:.2f} | "
        f"{hop:.2f} | {p50_ms(lambda: service.check_rows([row], features)):.2f} / "
        f"{p50_ms(lambda: service.checked_columns([row], features)):.2f} | "
        f"{p50_ms(lambda: pipeline[:-1].transform(frame)):.2f} / "
        f"{p50_ms(lambda: few_rows.prepared(plan, columns)):.2f} | "
        f"{p50_ms(lambda: getattr(estimator, method)(prepared)):.2f} | "
        f"{p50_ms(lambda: service.predict_rows(data_dir, model, [row])):.2f} |"
    )


def main() -> None:
    rounds = next((int(a.split("=", 1)[1]) for a in sys.argv if a.startswith("--rounds=")), 300)
    profile = next((a.split("=", 1)[1] for a in sys.argv if a.startswith("--profile=")), None)
    args = ["-m", "cProfile", "-o", profile, "-m", "server"] if profile else ["-m", "server"]
    parts = []
    only = next((a.split("=", 1)[1].split(",") for a in sys.argv if a.startswith("--only=")), None)
    sets = {
        "CLASSIFICATION": (frame_of(skd.load_breast_cancer), CLASSIFIERS),
        "REGRESSION": (frame_of(skd.load_diabetes), REGRESSORS),
    }
    lines = []
    with (
        tempfile.TemporaryDirectory() as scratch,
        _serving(args, {"ASSAY_DATA_DIR": f"{scratch}/data"}, quiet=True) as (base, _),
    ):
        token = register(base)
        for task, (frame, algorithms) in sets.items():
            path = Path(scratch) / f"{task.lower()}.csv"
            frame.to_csv(path, index=False)
            dataset_id = upload_and_ingest(base, token, path)
            row = frame.drop(columns=["target"]).iloc[0].to_dict()
            for algorithm in [a for a in algorithms if only is None or a in only]:
                model_id = train(base, token, dataset_id, task, algorithm)
                with httpx.Client(base_url=base, timeout=30) as client:
                    health, predict = measure(client, token, model_id, row, rounds)
                (h50, _), (p50, p99) = percentiles(health), percentiles(predict)
                lines.append(
                    f"| {task.lower()} | {algorithm} | {h50:.2f} ms | {p50:.2f} ms | {p99:.2f} ms | "
                    f"**{p50 / h50:.2f}x** | <= 2x |"
                )
                print(lines[-1], file=sys.stderr, flush=True)
                if "--breakdown" in sys.argv:
                    parts.append(breakdown(Path(scratch) / "data", model_id, row))
                    print(parts[-1], file=sys.stderr, flush=True)
    print("\n" + machine_line())
    print_table(
        f"\nSingle-row predict, {rounds} requests each, alternating with health on one kept-alive connection:\n",
        ["task", "algorithm", "health p50", "predict p50", "predict p99", "predict / health (p50)", "target"],
        lines,
    )
    if parts:
        print_table(
            "\nWhere a predict's own time goes (p50, in the bench process, on the models the server saved; CPU ms "
            "except the hop and the row read; `predict_rows` = row check + preparation + estimator + result; "
            "a/b = before/after this change):\n",
            [
                "task",
                "algorithm",
                "uncached parse + validate beyond health's (now cached)",
                "model row read",
                "thread hop",
                "row check: DataFrame / columns",
                "preparation: ColumnTransformer / few_rows",
                "estimator",
                "predict_rows",
            ],
            parts,
        )


if __name__ == "__main__":
    main()
