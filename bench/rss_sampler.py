"""Samples peak memory of a server process and its job workers; driven over stdin by harness.RssSampler.

Usage: rss_sampler.py PID INTERVAL (rss|unique). Commands on stdin, one per line: `reset`, `report`
(answers one JSON line of peaks in bytes). Job workers are the fork server's children. USS (memory
not shared with the fork server's preloaded modules) comes from /proc/PID/smaps_rollup, sampled
every fifth tick: it walks the page tables, so it is the expensive read.
"""

from __future__ import annotations

import json
import sys
import threading
import time

PAGE = 4096


def rss(pid: int) -> int:
    with open(f"/proc/{pid}/statm") as statm:
        return int(statm.read().split()[1]) * PAGE


def uss(pid: int) -> int:
    total = 0
    with open(f"/proc/{pid}/smaps_rollup") as rollup:
        for line in rollup:
            if line.startswith(("Private_Clean:", "Private_Dirty:")):
                total += int(line.split()[1]) * 1024
    return total


def children(pid: int) -> list[int]:
    """Direct children from /proc (one small read; psutil scans every process in /proc to find them)."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as listing:
            return [int(child) for child in listing.read().split()]
    except OSError:
        return []


def main() -> None:
    server_pid = int(sys.argv[1])
    interval = float(sys.argv[2])
    unique = sys.argv[3] == "unique"
    peaks = dict.fromkeys(("server", "workers", "workers_unique", "total"), 0)
    lock = threading.Lock()
    stop = threading.Event()

    def sample() -> None:
        tick = 0
        while not stop.is_set():
            tick += 1
            try:
                server_rss, workers, workers_unique = rss(server_pid), 0, 0
                for helper in children(server_pid):  # the fork server; job workers are its children
                    for worker in children(helper):
                        try:
                            workers = max(workers, rss(worker))
                            if unique and tick % 5 == 0:
                                workers_unique = max(workers_unique, uss(worker))
                        except OSError:
                            pass
                with lock:
                    peaks["server"] = max(peaks["server"], server_rss)
                    peaks["workers"] = max(peaks["workers"], workers)
                    peaks["workers_unique"] = max(peaks["workers_unique"], workers_unique)
                    peaks["total"] = max(peaks["total"], server_rss + workers)
            except OSError:
                pass
            time.sleep(interval)

    threading.Thread(target=sample, daemon=True).start()
    for line in sys.stdin:
        command = line.strip()
        with lock:
            if command == "reset":
                peaks.update(dict.fromkeys(peaks, 0))
            print(json.dumps(peaks), flush=True)
    stop.set()


if __name__ == "__main__":
    main()
