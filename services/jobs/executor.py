"""Executors run job bodies away from the event loop. The engine sees only the `Executor` interface."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import shutil
import signal
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from multiprocessing import forkserver
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, Protocol

from services.errors import ErrorCode
from services.jobs.context import WorkerMessage
from services.jobs.priority import PrioritySlots
from services.jobs.worker_process import JobSpec, worker_main
from services.storage.objects import StorageConfig

logger = logging.getLogger("assay.jobs")


@dataclass
class WorkerOutcome:
    status: str  # "succeeded", "failed", "cancelled" or "needs_input"
    result: dict[str, Any] | None = None
    error: str | None = None
    code: ErrorCode | None = None
    transient: bool = False  # failed in a way that may pass (services/jobs/retry.py): worth another try


class Executor(Protocol):
    async def submit(
        self, spec: JobSpec, *, on_start: Callable[[], Awaitable[bool]], on_message: Callable[[WorkerMessage], None]
    ) -> WorkerOutcome:
        """Wait for capacity, call on_start (False aborts), run the body, stream its messages, return its end."""

    def cancel(self, job_id: str) -> None:
        """Ask a job to stop: at its next checkpoint, or by force after a grace period."""

    def warm_up(self) -> None:
        """Start getting workers ready in the background, so the first job does not wait for them."""

    async def shutdown(self) -> None: ...

    @property
    def workers(self) -> int: ...

    @property
    def waiting(self) -> int: ...


def _read_messages(
    receiver: Connection,
    job_id: str,
    loop: asyncio.AbstractEventLoop,
    on_message: Callable[[WorkerMessage], None],
    ended: asyncio.Future[list[WorkerMessage]],
) -> None:
    """Reads a worker's messages until its end of the pipe closes; the loop gets them in order, then `ended`.

    Runs on a thread of its own, which owns `receiver`: it is closed here, never under a blocked read.
    """
    final: list[WorkerMessage] = []
    unreadable: WorkerMessage | None = None
    os.set_blocking(receiver.fileno(), True)  # whatever touched the fd before, a read waits for a whole message
    try:
        while True:
            try:
                message = receiver.recv()
            except (EOFError, OSError):
                break
            except Exception as exc:  # framing is intact (the bytes were read); the job must fail saying so
                logger.exception("job %s: a message from its worker could not be read", job_id)
                unreadable = (
                    "error",
                    ErrorCode.INTERNAL,
                    f"A message from the job could not be received ({type(exc).__name__})",
                    None,
                    None,
                )
                continue
            if message[0] in ("result", "error", "cancelled", "needs_input"):
                final.append(message)
            else:
                _call_on_loop(loop, on_message, message)
    finally:
        receiver.close()
        if unreadable is not None:
            final.append(unreadable)
        _call_on_loop(loop, _finish, ended, final)


def _call_on_loop(loop: asyncio.AbstractEventLoop, function: Callable[..., None], *args: Any) -> None:
    with contextlib.suppress(RuntimeError):  # the loop closed (the server stopped): nobody is left to tell
        loop.call_soon_threadsafe(function, *args)


def _finish(ended: asyncio.Future[list[WorkerMessage]], final: list[WorkerMessage]) -> None:
    if not ended.done():
        ended.set_result(final)


@dataclass
class _Running:
    process: Any
    cancel_event: Any
    kill_timer: asyncio.TimerHandle | None = None
    stop_requested: bool = False
    start_attempted: asyncio.Event = field(default_factory=asyncio.Event)  # shutdown joins only started processes


@dataclass
class ProcessExecutor:
    """Runs each job in its own worker process, at most `max_workers` at once: the highest priority first,
    in submission order within one priority."""

    max_workers: int = 2
    grace_seconds: float = 2.0
    preload: list[str] = field(default_factory=list)  # modules the fork server imports once (the registry's)
    memory_mb: int = 2048  # each job's memory budget, handed to its body
    scratch_root: Path | None = None  # each job spills under scratch_root/<job id>, removed when it ends
    log_level: str = "INFO"  # ASSAY_LOG_LEVEL, applied in each job process
    log_format: str = "text"  # ASSAY_LOG_FORMAT, likewise
    storage: StorageConfig | None = None  # see JobSpec.storage
    _slots: PrioritySlots | None = None
    _running: dict[str, _Running] = field(default_factory=dict)
    _waiting: set[str] = field(default_factory=set)
    _cancelled_while_waiting: set[str] = field(default_factory=set)
    _closed: bool = False

    def __post_init__(self) -> None:
        self._mp = multiprocessing.get_context("forkserver")
        # The fork server is one per process: the last executor made sets what it imports.
        self._mp.set_forkserver_preload([*self.preload, "services.jobs.warm_up"])

    @property
    def workers(self) -> int:
        return self.max_workers

    def warm_up(self) -> None:
        # The fork server imports the preload (pandas, scikit-learn, ...) once: ~1.4 s that the first
        # job after a start used to wait for. Off the loop, and nobody waits for it here.
        threading.Thread(target=forkserver.ensure_running, name="assay-forkserver-warm-up", daemon=True).start()

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    def describe(self, job_id: str) -> dict[str, Any]:
        """What this executor holds for one job (the admin debug view): its process and cancel flag."""
        running = self._running.get(job_id)
        process = running.process if running is not None else None
        return {
            "waiting_for_slot": job_id in self._waiting,
            "pid": getattr(process, "pid", None),
            "process_alive": process.is_alive() if process is not None and process.pid is not None else None,
            "cancel_requested": (running is not None and (running.stop_requested or running.cancel_event.is_set()))
            or job_id in self._cancelled_while_waiting,
        }

    async def submit(
        self, spec: JobSpec, *, on_start: Callable[[], Awaitable[bool]], on_message: Callable[[WorkerMessage], None]
    ) -> WorkerOutcome:
        if self._slots is None:
            self._slots = PrioritySlots(self.max_workers)
        self._waiting.add(spec.job_id)
        try:
            async with self._slots.slot(spec.priority):
                self._waiting.discard(spec.job_id)
                if self._closed or spec.job_id in self._cancelled_while_waiting or not await on_start():
                    return WorkerOutcome("cancelled")
                return await self._run(spec, on_message)
        finally:
            self._waiting.discard(spec.job_id)
            self._cancelled_while_waiting.discard(spec.job_id)

    async def _run(self, spec: JobSpec, on_message: Callable[[WorkerMessage], None]) -> WorkerOutcome:
        scratch = self.scratch_root / spec.job_id if self.scratch_root else None
        spec = replace(
            spec,
            memory_mb=self.memory_mb,
            scratch_dir=str(scratch) if scratch else None,
            log_level=self.log_level,
            log_format=self.log_format,
            storage=self.storage,
        )
        try:
            return await self._run_process(spec, on_message)
        finally:
            if scratch is not None:  # spill files never outlive their job, whatever way it ended
                await asyncio.to_thread(shutil.rmtree, scratch, True)

    async def _run_process(self, spec: JobSpec, on_message: Callable[[WorkerMessage], None]) -> WorkerOutcome:
        loop = asyncio.get_running_loop()
        receiver, sender = self._mp.Pipe(duplex=False)
        cancel_event = self._mp.Event()
        process = self._mp.Process(
            target=worker_main, args=(spec, sender, cancel_event), daemon=True, name=f"assay-job-{spec.job_id[:8]}"
        )
        # Registered before the (slow, off-loop) start, so a cancel that arrives meanwhile is not lost.
        running = self._running[spec.job_id] = _Running(process, cancel_event)
        try:
            await asyncio.to_thread(process.start)
        except BaseException:
            receiver.close()  # no reader thread will own it
            raise
        finally:
            sender.close()
            running.start_attempted.set()
        if running.stop_requested and running.kill_timer is None:
            running.kill_timer = loop.call_later(self.grace_seconds, self._kill, running)
        ended: asyncio.Future[list[WorkerMessage]] = loop.create_future()
        # Not loop.add_reader: uvloop (what uvicorn runs) makes a watched fd non-blocking, and recv() of a
        # message larger than what is in the pipe then raised BlockingIOError mid-message, read as the end:
        # a wide table's result was lost ("exited unexpectedly (code 0)", or code None when the worker
        # stayed blocked writing the rest). Blocking reads on a thread also keep big results off the loop.
        reader = threading.Thread(
            target=_read_messages,
            args=(receiver, spec.job_id, loop, on_message, ended),
            name=f"assay-job-reader-{spec.job_id[:8]}",
            daemon=True,
        )
        reader.start()
        try:
            final = await ended
            await asyncio.to_thread(process.join, 5)
        finally:
            if running.kill_timer:
                running.kill_timer.cancel()
            self._running.pop(spec.job_id, None)
        return self._outcome(final, process.exitcode, running.stop_requested)

    @staticmethod
    def _outcome(final: list[WorkerMessage], exitcode: int | None, stop_requested: bool) -> WorkerOutcome:
        if final:
            kind, *rest = final[-1]
            if kind == "result":
                return WorkerOutcome("succeeded", result=rest[0])
            if kind == "cancelled":
                return WorkerOutcome("cancelled")
            if kind == "needs_input":
                return WorkerOutcome("needs_input", result={"question": rest[0], "choices": rest[1]})
            code, message, trace, details, *transient = rest
            if trace:
                logger.error("job body failed:\n%s", trace)
            return WorkerOutcome(
                "failed", code=code, error=message, result=details, transient=bool(transient and transient[0])
            )
        if stop_requested:
            return WorkerOutcome("cancelled")
        killed = (
            "; it was killed (SIGKILL), as the kernel's out-of-memory killer does when the machine runs out of "
            "memory: the jobs running at once may need more than it has (ASSAY_JOB_MEMORY_MB each)"
            if exitcode == -signal.SIGKILL
            else ""
        )
        return WorkerOutcome(
            "failed", code=ErrorCode.INTERNAL, error=f"The worker process exited unexpectedly (code {exitcode}){killed}"
        )

    def cancel(self, job_id: str) -> None:
        if job_id in self._waiting:
            self._cancelled_while_waiting.add(job_id)
            return
        running = self._running.get(job_id)
        if running is None or running.stop_requested:
            return
        running.stop_requested = True
        running.cancel_event.set()
        if running.process.pid is not None:  # not started yet: _run arms the timer once it has
            running.kill_timer = asyncio.get_running_loop().call_later(self.grace_seconds, self._kill, running)

    @staticmethod
    def _kill(running: _Running) -> None:
        if running.process.is_alive():
            running.process.terminate()

    async def shutdown(self) -> None:
        self._closed = True
        for job_id in list(self._running):
            self.cancel(job_id)
        for running in list(self._running.values()):
            await running.start_attempted.wait()
            if running.process.pid is None:  # its start failed: nothing to wait for
                continue
            await asyncio.to_thread(running.process.join, self.grace_seconds + 1)
            if running.process.is_alive():
                running.process.kill()
