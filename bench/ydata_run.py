"""Run ydata-profiling on a CSV and print seconds and peak RSS as JSON (executed with bench/.venv-ydata)."""

import json
import resource
import sys
import time

import pandas as pd
from ydata_profiling import ProfileReport

path, mode = sys.argv[1], sys.argv[2]
frame = pd.read_csv(path)
started = time.perf_counter()
report = ProfileReport(frame, minimal=(mode == "minimal"), progress_bar=False)
report.to_json()
print(
    json.dumps(
        {
            "seconds": time.perf_counter() - started,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        }
    )
)
