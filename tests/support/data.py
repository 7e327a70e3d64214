"""Test data made on the fly."""

from __future__ import annotations

import zlib
from pathlib import Path

from tests.support.paths import CORPUS

__all__ = ["CORPUS", "slow_gzip"]


def slow_gzip(path: Path, rows_millions: int = 26) -> bytes:
    """A few MB of gzip that inflates to ~23 bytes x rows: seconds of parsing for a tiny upload."""
    compressor = zlib.compressobj(1, zlib.DEFLATED, 31)
    chunk = b"12345,abcde,2024-01-01\n" * 100_000
    parts = [compressor.compress(b"a,b,c\n")] + [compressor.compress(chunk) for _ in range(rows_millions * 10)]
    data = b"".join(parts) + compressor.flush()
    path.write_bytes(data)
    return data
