"""A real server on a port with a user's real objects, and the judge of every answer it gives.

Owed for any input, however malformed: no 5xx, no `INTERNAL` code or masked "Internal server
error", an answer within 10 s, and no job that ends with "Internal error".
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.support.live_server import LiveServer

ANSWER_SECONDS = 10.0
MASKED = "Internal server error"
TABLE = (
    "row_id,when,city,temp,sold,label\n"
    + "".join(
        f"{i},2024-01-{i % 28 + 1:02d}T0{i % 10}:00:00+01:00,{['Oslo', 'Rome', 'Lima'][i % 3]},{i * 0.7 - 5:.1f},"
        f"{'true' if i % 2 else 'false'},{'yes' if i % 3 else 'no'}\n"
        for i in range(40)
    )
).encode()


@dataclass
class Tally:
    """Operations sent and distinct failures found, per source (generated or hand-made)."""

    sent: dict[str, int] = field(default_factory=dict)
    failures: dict[str, list[str]] = field(default_factory=dict)

    def count(self, source: str) -> None:
        self.sent[source] = self.sent.get(source, 0) + 1

    def fail(self, source: str, problem: str) -> None:
        found = self.failures.setdefault(source, [])
        if problem not in found:
            found.append(problem)


def problems_in(status: int, seconds: float, body: bytes) -> list[str]:
    """What is wrong with one HTTP answer (empty when it is acceptable)."""
    found = []
    if status >= 500:
        found.append(f"HTTP {status}: {body[:200]!r}")
    if seconds > ANSWER_SECONDS:
        found.append(f"answered in {seconds:.1f} s")
    text = body.decode("utf-8", "replace")
    if MASKED in text:
        found.append(f"masked error: {_first_error(text)}")
    if '"INTERNAL"' in text:
        found.append(f"INTERNAL code: {_first_error(text)}")
    return found


def _first_error(text: str) -> str:
    try:
        payload = json.loads(text)
    except ValueError:
        return text[:200]
    errors = payload.get("errors") if isinstance(payload, dict) else None
    path = errors[0].get("path") if errors else None
    return f"path {path}" if path else text[:200]


class FuzzServer:
    """The live server, a fuzzing user with real objects, and another user whose ids are foreign."""

    def __init__(self, data_dir: Path) -> None:
        self.live = LiveServer(
            data_dir,
            ASSAY_REQUESTS_PER_MINUTE="1000000",
            ASSAY_ANALYSIS_MODEL_BUDGET_SECONDS="2",
            ASSAY_NEEDS_INPUT_TIMEOUT_SECONDS="5",
            ASSAY_LOGIN_FAILURES_PER_ADDRESS="1000000",
        )
        self.http = httpx.Client(base_url=self.live.base, timeout=ANSWER_SECONDS + 5)
        self.token = ""
        self.real_ids: list[str] = []
        self.foreign_ids: list[str] = []

    def start(self) -> FuzzServer:
        try:
            self.live.start()
        except RuntimeError:  # a loaded CI machine can take longer than LiveServer's 30 s to import and migrate
            self._wait_healthy(90)
        self.token = self._register("fuzz@example.com")
        self.real_ids = self._objects(self.token, with_model=True)
        self.foreign_ids = self._objects(self._register("other@example.com"), with_model=False)
        return self

    def _wait_healthy(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and self.live.process.poll() is None:
            try:
                if self.http.get("/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.5)
        raise RuntimeError(f"server did not start:\n{self.live.output()[-2000:]}")

    def stop(self) -> None:
        self.http.close()
        self.live.terminate()

    def _register(self, email: str) -> str:
        answer = self.live.gql(
            'mutation($e: String!) { register(input: {email: $e, password: "fuzzing password"}) { accessToken } }',
            {"e": email},
        )
        return answer["data"]["register"]["accessToken"]

    def _objects(self, token: str, *, with_model: bool) -> list[str]:
        uploaded = self.live.upload(token, TABLE, "fuzz.csv")
        self.live.wait_for(token, uploaded["job"]["id"], ("SUCCEEDED",))
        dataset = uploaded["dataset"]["id"]
        ids = [dataset, uploaded["job"]["id"]]
        pipeline = self.live.gql(
            'mutation($d: ID!) { createPipeline(input: {name: "p", source: {dataset: {datasetId: $d}}, '
            'sink: {dataset: {name: "copy"}}}) { pipeline { id } } }',
            {"d": dataset},
            token,
        )
        ids.append(pipeline["data"]["createPipeline"]["pipeline"]["id"])
        if with_model:
            trained = self.live.gql(
                'mutation($d: ID!) { trainModel(input: {datasetId: $d, target: "label", '
                "algorithms: [LOGISTIC_REGRESSION]}) { model { id } job { id } } }",
                {"d": dataset},
                token,
            )
            self.live.wait_for(token, trained["data"]["trainModel"]["job"]["id"], ("SUCCEEDED",), timeout=120)
            ids += [trained["data"]["trainModel"]["model"]["id"], trained["data"]["trainModel"]["job"]["id"]]
            report = self.live.gql(
                "mutation($d: ID!) { generateReport(input: {datasetId: $d}) { report { id } job { id } } }",
                {"d": dataset},
                token,
            )
            ids += [report["data"]["generateReport"]["report"]["id"], report["data"]["generateReport"]["job"]["id"]]
        return ids

    def post(
        self,
        *,
        json_body: Any = None,
        content: bytes | None = None,
        headers: dict | None = None,
        files: Any = None,
        data: Any = None,
        token: bool = True,
    ) -> tuple[int, float, bytes]:
        all_headers = {"authorization": f"Bearer {self.token}"} if token else {}
        all_headers.update(headers or {})
        began = time.monotonic()
        try:
            response = self.http.post(
                "/graphql", json=json_body, content=content, headers=all_headers, files=files, data=data
            )
        except httpx.TimeoutException:
            return 599, time.monotonic() - began, b"timed out"
        return response.status_code, time.monotonic() - began, response.content

    def judge(self, tally: Tally, source: str, name: str, answer: tuple[int, float, bytes]) -> None:
        tally.count(source)
        if answer[0] == 200 and b'"data":null' not in answer[2].replace(b" ", b"") and b'"data"' in answer[2]:
            tally.count(f"{source} (executed)")  # passed validation and reached resolvers
        for problem in problems_in(*answer):
            tally.fail(source, f"{name}: {problem}")

    def healthy(self) -> bool:
        return self.live.process.poll() is None and self.http.get("/health").status_code == 200

    def jobs_failed_internally(self, timeout: float = 45) -> list[str]:
        """Wait (bounded) for the user's jobs to end, then name those that ended with "Internal error"."""
        deadline = time.monotonic() + timeout
        while True:
            jobs = self._all_jobs()
            waiting = [j for j in jobs if j["status"] in ("QUEUED", "RUNNING")]
            if not waiting or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        for job in waiting:  # a queue left by the fuzzing is cancelled, not waited out
            self.live.gql(
                "mutation($id: ID!) { cancelJob(input: {id: $id}) { errors { code } } }", {"id": job["id"]}, self.token
            )
        return [f"{j['kind']} {j['id']}: {j['error']}" for j in jobs if (j["error"] or "").startswith("Internal error")]

    def _all_jobs(self, pages: int = 20) -> list[dict]:
        query = (
            "query($a: String) { jobs(first: 100, after: $a) { pageInfo { hasNextPage endCursor } "
            "edges { node { id kind status error } } } }"
        )
        jobs, after = [], None
        for _ in range(pages):
            page = self.live.gql(query, {"a": after}, self.token)["data"]["jobs"]
            jobs += [edge["node"] for edge in page["edges"]]
            if not page["pageInfo"]["hasNextPage"]:
                break
            after = page["pageInfo"]["endCursor"]
        return jobs
