"""Following a job live: its log lines as they come, a NEEDS_INPUT question answered, and how it ended."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from typing import TextIO

from client.api import AssayClient

Answerer = Callable[[dict], str]  # given the waiting job, returns one of its choices (it may block: runs in a thread)


def follow_job(
    client: AssayClient,
    job_id: str,
    *,
    log: TextIO | None,
    events: Callable[[dict], None] | None = None,
    answer: Answerer | None = None,
) -> dict:
    """Block until the job ends; returns its last state. Ctrl-C raises StoppedWatching and leaves the job running."""
    try:
        return asyncio.run(_follow(client, job_id, log=log, events=events, answer=answer))
    except KeyboardInterrupt:
        raise StoppedWatching(job_id) from None


class StoppedWatching(Exception):
    """Ctrl-C while following a job: the watcher stops, the job does not."""

    def __init__(self, job_id: str) -> None:
        super().__init__(f"Stopped watching; the job keeps running (`assay cancel {job_id}` stops it).")
        self.job_id = job_id


async def _follow(
    client: AssayClient,
    job_id: str,
    *,
    log: TextIO | None,
    events: Callable[[dict], None] | None,
    answer: Answerer | None,
) -> dict:
    job: dict = {}
    asked = False
    async for event in client.job_events(job_id):
        job = event["job"]
        if events:
            events(event)
        if log is not None:
            for line in event["logs"]:
                print(format_log_line(line), file=log, flush=True)
        if job["status"] == "NEEDS_INPUT" and answer and not asked:
            asked = True  # one question per wait: the STATUS events that follow repeat the same state
            choice = await asyncio.to_thread(answer, job)
            await asyncio.to_thread(client.answer, job_id, choice)
        elif job["status"] != "NEEDS_INPUT":
            asked = False
    return job


def format_log_line(line: dict) -> str:
    stage = f"[{line['stage']}] " if line.get("stage") else ""
    level = "" if line["level"] == "INFO" else f"{line['level']}: "
    return f"  {stage}{level}{line['message']}"


def ask_choice(job: dict, *, prompt_file: TextIO = sys.stderr) -> str:
    """Ask the job's question on the terminal; a number picks from the numbered choices."""
    from client.errors import AssayError

    choices = job.get("choices") or []
    print(f"\n{job.get('question') or 'The job needs an answer.'}", file=prompt_file)
    for number, choice in enumerate(choices, 1):
        print(f"  {number}. {choice}", file=prompt_file)
    while True:
        print("Answer (number or name): ", end="", file=prompt_file, flush=True)
        reply = sys.stdin.readline()
        if not reply:
            raise AssayError(
                f"Job {job['id']} waits for an answer and there is no input to read it from: "
                f"run `assay answer {job['id']} CHOICE` (choices: {', '.join(choices)})",
                "NEEDS_INPUT",
            )
        reply = reply.strip()
        if reply.isdigit() and 1 <= int(reply) <= len(choices):
            return choices[int(reply) - 1]
        if reply in choices:
            return reply
        print(f"Not one of the choices: {reply!r}", file=prompt_file)
