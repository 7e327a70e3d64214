"""The sampler the memory probes share: this process's RSS and USS read every 30 ms from a thread, printed after
each phase with the peak since the line before (`mark`), and the whole run's peak (`summary`)."""

import threading
import time

import psutil

me = psutil.Process()
state = {"peak": 0, "peak_rss": 0, "top": 0, "top_rss": 0, "stop": 0}
began = time.time()


def _sample() -> None:
    while not state["stop"]:
        info = me.memory_full_info()
        state["peak"], state["peak_rss"] = max(state["peak"], info.uss), max(state["peak_rss"], info.rss)
        state["top"], state["top_rss"] = max(state["top"], info.uss), max(state["top_rss"], info.rss)
        time.sleep(0.03)


threading.Thread(target=_sample, daemon=True).start()


def mark(what: str) -> None:
    info = me.memory_full_info()
    print(
        f"{time.time() - began:7.1f}s rss {info.rss >> 20:5} uss {info.uss >> 20:5} MB window-peak rss "
        f"{state['peak_rss'] >> 20:5} uss {state['peak'] >> 20:5} MB | {what}",
        flush=True,
    )
    state["peak"], state["peak_rss"] = info.uss, info.rss


def summary() -> str:
    state["stop"] = 1
    return f"peak rss {state['top_rss'] >> 20} MB, uss {state['top'] >> 20} MB"
