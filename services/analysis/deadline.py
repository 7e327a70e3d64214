"""Stage time limits enforced while the stage runs, not checked after it ended.

A job body runs on the main thread of its own worker process (services/jobs/executor.py), so a real-time
interval timer (SIGALRM) can interrupt it: the handler raises StageTimedOut at the next Python bytecode, which
stops a cross-validation or a profile between two library calls. It derives from BaseException so that the
`except Exception` of the code it interrupts cannot swallow it. Where there is no main thread to signal (a body
run in a thread), the limit is checked when the stage ends instead, and the job-wide time limit stays the
hard stop either way.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

GROUP_OF_STAGE = {
    "ingest-check": "eda",
    "profile": "eda",
    "clarify": "eda",
    "auto-actions": "eda",
    "modeling": "model",
    "report": "report",
    "qa": "report",
}


class StageTimedOut(BaseException):
    def __init__(self, stage: str, limit: float) -> None:
        super().__init__(f"{stage} over {limit:g} s")
        self.stage, self.limit = stage, limit


#: Once the limit has passed, the timer keeps firing this often until the stage lets go, because library code can
#: turn the first raise into an error of its own (numpy's buffer-format parser wraps any exception in a ValueError,
#: and scikit-learn's cross-validation then scores that fold NaN and carries on).
REFIRE_SECONDS = 0.05


@contextmanager
def stage_deadline(stage: str, seconds: float) -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        began = time.monotonic()
        yield
        if time.monotonic() - began > seconds:
            raise StageTimedOut(stage, seconds)
        return

    fired = armed = False

    def expire(_signum: int, _frame: FrameType | None) -> None:
        nonlocal fired
        if armed:
            fired = True
            raise StageTimedOut(stage, seconds)

    previous = signal.signal(signal.SIGALRM, expire)
    armed = True
    signal.setitimer(signal.ITIMER_REAL, seconds, REFIRE_SECONDS)
    try:
        yield
    except StageTimedOut:
        raise
    except Exception as error:  # not GeneratorExit, KeyboardInterrupt or SystemExit: those go on as they are
        # An error raised while the limit had passed is the limit's doing, whatever the library called it.
        if fired:
            raise StageTimedOut(stage, seconds) from error
        raise
    finally:
        armed = False  # first, before any call: a handler runs only at a call or a loop's jump, so none can raise here
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    if fired:  # the stage swallowed every raise and still finished: it ran over all the same
        raise StageTimedOut(stage, seconds)
