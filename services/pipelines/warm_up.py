"""Preloaded by job workers (the PIPELINE kind's `preload`) so every fork starts with Arrow warm.

Arrow initialises its compute kernels and CSV reader on first use, and every worker forked from a
server that never used them paid for it: 5-35 ms of a scrape job's typing, more than its network
wait. A few rows through the same paths here leave them initialised in every fork.
"""

from __future__ import annotations

import logging

logger = logging.getLogger("assay.jobs")


def _warm_up() -> None:
    from services.pipelines.records import FlatColumns
    from services.pipelines.scrape import parsed_html, scraped_columns

    page = parsed_html(b'<table><tr class="r"><td>a 1</td><td>2.5</td><td>2024-01-05</td></tr></table>', "text/html")
    count, found = scraped_columns(page, "tr.r", [{"name": "text", "selector": "td"}], "http://localhost/")
    columns = FlatColumns(["text", "number", "when"])
    columns.add_columns(
        count + 1, {"text": found["text"] + ["NA"], "number": ["2.5", "3"], "when": ["2024-01-05", "2024-02-01"]}
    )
    columns.to_table()


try:
    _warm_up()
except Exception:  # a failed warm-up only costs the jobs their first-call time
    logger.exception("Job worker warm-up failed; jobs will start cold")
