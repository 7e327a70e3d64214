"""Imported last by the fork server, after the registry's preload (libraries, job bodies, warm-ups).

The preloaded heap (pandas, scikit-learn, matplotlib: hundreds of thousands of objects) is frozen
out of the garbage collector: each full collection in a worker walked all of it, ~100 ms at
whatever allocation triggered it (a 5,000-row SQLite write took 0.12 s instead of 0.013 s).
"""

from __future__ import annotations

import gc

gc.collect()  # the warm-ups' own garbage is not kept forever
gc.freeze()
