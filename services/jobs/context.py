"""What a job body sees: its parameters and a way to report. Messages go to the engine over a pipe."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

# What a job body sends the engine over the pipe: a tag ("log", "progress", "stage", "result", ...) and
# that tag's fields. Tuples pickle cheaply; each reader unpacks by the tag.
WorkerMessage = tuple[Any, ...]


class JobCancelled(Exception):
    """Raised at a checkpoint after cancellation was requested."""


class NeedsInput(Exception):
    """Raised by `ask`: the job pauses (NEEDS_INPUT) until answerJob resumes it."""

    def __init__(self, question: str, choices: list[str]) -> None:
        super().__init__(question)
        self.question, self.choices = question, choices


class JobContext:
    def __init__(
        self,
        *,
        job_id: str,
        params: dict[str, Any],
        send: Callable[[WorkerMessage], None],
        is_cancelled: Callable[[], bool],
        memory_mb: int = 2048,
        scratch_dir: Path | None = None,
    ) -> None:
        self.job_id = job_id
        self.memory_mb = memory_mb  # the memory budget this job must keep within (ASSAY_JOB_MEMORY_MB)
        self.scratch_dir = scratch_dir  # private spill space, removed by the executor when the job ends
        self.params = params
        self._send = send
        self._is_cancelled = is_cancelled
        self.current_stage: str | None = None

    def log(self, message: str, level: str = "INFO") -> None:
        self._send(("log", level, message, self.current_stage, _now()))

    def progress(self, fraction: float) -> None:
        self._send(("progress", max(0.0, min(1.0, float(fraction)))))

    def stage(self, name: str) -> None:
        self.current_stage = name
        self._send(("stage", name, _now()))

    def note(self, *, tools: list[str] | None = None, features: list[str] | None = None) -> None:
        """Add to the job's telemetry what it chose: tools (algorithms tried, steps applied) and features used."""
        self._send(
            ("telemetry", {"tools": [str(t) for t in tools or []], "features": [str(f) for f in features or []]})
        )

    def ask(self, question: str, choices: list[str]) -> None:
        """Pause for the user's answer; the job runs again with params["answer"] once it comes."""
        raise NeedsInput(question, choices)

    def checkpoint(self) -> None:
        """A safe point to stop: raises JobCancelled when the job was cancelled."""
        if self._is_cancelled():
            raise JobCancelled


def _now() -> str:
    return datetime.now(UTC).isoformat()
