"""Lines whose field count is not the header's: padded, trimmed, or rejected and kept, never lost silently.

pyarrow hands every such row to `RaggedLines.handler`, which keeps its text and skips it. After a
piece of text is parsed, `repair` puts the rows that can be mended back where they were (short
ones padded with nulls, long ones whose extra fields are all empty trimmed) and the piece is
parsed again; the rest are rejected with their line number, text and reason. Rows are found in
the piece by their text, so this works the same for a chunk of the file and for the whole of it.
"""

from __future__ import annotations

import csv
import io
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from services.errors import ErrorCode, ServiceError

if TYPE_CHECKING:
    from pyarrow.csv import InvalidRow

RowHandler = Callable[["InvalidRow"], str]  # pyarrow's invalid_row_handler: "skip" or "error"

PAD, SKIP, FAIL = "PAD", "SKIP", "FAIL"
POLICIES = (PAD, SKIP, FAIL)
KEPT_IN_INFO = 100  # rejects stored with the dataset's metadata; all of them go to the downloadable file
MOST = 0.5  # more disagreeing lines than this share: the delimiter or header guess is wrong
EVIDENCE = 10  # with a certain delimiter, fewer disagreeing lines than this are ragged lines, not a wrong guess


@dataclass
class Reject:
    line: int
    text: str
    reason: str


@dataclass
class Mend:
    """What to do with one disagreeing row: its replacement text, or None to reject it."""

    replacement: str | None
    reason: str
    padded: bool = False


@dataclass
class RaggedLines:
    """The tally for one file; the parsing threads add to it under a lock."""

    policy: str
    delimiter: str
    quote_char: str
    encoding: str
    padded: int = 0
    trimmed: int = 0
    rejects: list[Reject] = field(default_factory=list)
    delimiter_certain: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def collector(self, encoding: str | None = None) -> PieceRows:
        """For one piece of text whose bytes are in `encoding` (the file's when not given)."""
        return PieceRows(self, encoding or self.encoding)

    def mend(self, text: str, expected: int) -> Mend:
        fields = next(csv.reader([text], delimiter=self.delimiter, quotechar=self.quote_char), [])
        found = len(fields)
        reason = f"{found} field{'s' if found != 1 else ''} where the header has {expected}"
        if found < expected and self.policy == PAD:
            return Mend(self._write(fields + [""] * (expected - found)), reason, padded=True)
        if found > expected and not any(value.strip() for value in fields[expected:]):
            return Mend(self._write(fields[:expected]), reason)
        return Mend(None, reason)

    def _write(self, fields: list[str]) -> str:
        out = io.StringIO()
        csv.writer(out, delimiter=self.delimiter, quotechar=self.quote_char, lineterminator="").writerow(fields)
        return out.getvalue()

    def clear(self) -> None:
        """Forget a reading that was abandoned (another reader starts over)."""
        with self._lock:
            self.padded, self.trimmed, self.rejects = 0, 0, []

    def add(self, *, padded: int, trimmed: int, rejects: list[Reject]) -> None:
        with self._lock:
            self.padded += padded
            self.trimmed += trimmed
            self.rejects.extend(rejects)

    def check_most(self, rows: int) -> None:
        """Fail the file when most of its lines disagree with the detected shape."""
        disagreeing = self.padded + self.trimmed + len(self.rejects)
        if self.delimiter_certain and disagreeing < EVIDENCE:
            return  # 2 of 3 lines is no evidence against a delimiter that nothing else could be (csvkit's bad.csv)
        if disagreeing and disagreeing > MOST * (rows + len(self.rejects)):
            raise ServiceError(
                ErrorCode.PARSE_ERROR,
                f"{disagreeing:,} of {rows + len(self.rejects):,} lines do not have the "
                f"header's number of fields: the delimiter or the header was probably guessed wrong "
                f"(set csv.delimiter or csv.hasHeader)",
            )

    def summary(self) -> str | None:
        if not (self.padded or self.trimmed or self.rejects):
            return None
        parts = [
            f"{self.padded:,} short line(s) padded with nulls",
            (f"{self.trimmed:,} line(s) with empty extra fields trimmed"),
            f"{len(self.rejects):,} line(s) rejected",
        ]
        first = sorted(self.rejects, key=lambda r: r.line)[:1]
        return "; ".join(parts) + (f" (first: line {first[0].line}, {first[0].reason})" if first else "")

    def info(self) -> dict[str, Any]:
        rejects = sorted(self.rejects, key=lambda r: r.line)
        return {
            "padded_lines": self.padded,
            "trimmed_lines": self.trimmed,
            "rejected_lines": len(rejects),
            "rejects": [{"line": r.line, "text": r.text, "reason": r.reason} for r in rejects[:KEPT_IN_INFO]],
        }

    def write_rejects(self, path: Path) -> None:
        with open(path, "w", newline="", encoding="utf-8") as out:
            writer = csv.writer(out)
            writer.writerow(["line", "reason", "text"])
            for reject in sorted(self.rejects, key=lambda r: r.line):
                writer.writerow([reject.line, reject.reason, reject.text])


@dataclass
class PieceRows:
    """The disagreeing rows of one piece of text, as pyarrow reports them (in any order, from any thread)."""

    tally: RaggedLines
    encoding: str
    rows: list[tuple[int, str]] = field(default_factory=list)

    def handler(self, row: InvalidRow) -> str:
        self.rows.append((row.expected_columns, row.text))
        return "skip"

    def repair(self, data: bytes | memoryview, newline: bytes, first_line: LineBase) -> bytes | None:
        """The piece with mendable rows put back (None when there is nothing to put back); rejects recorded."""
        if not self.rows:
            return None
        data = data if isinstance(data, bytes) else bytes(data)
        if self.tally.policy == FAIL:
            self._fail(data, newline, first_line)
        edits, rejects, padded, trimmed = [], [], 0, 0
        cursors: dict[bytes, int] = {}
        for expected, text in self.rows:
            needle = text.encode(self.encoding, "replace")
            offset = _find_row(data, needle, newline, cursors.get(needle, 0))
            cursors[needle] = offset + len(needle) if offset >= 0 else len(data)
            mend = self.tally.mend(text, expected)
            line = first_line.line_at(data, offset, newline) if offset >= 0 else 0
            if mend.replacement is None or offset < 0:
                rejects.append(Reject(line, text, mend.reason))
                if offset >= 0:  # out of the mended text too, line break and all
                    edits.append((offset, _line_end(data, offset + len(needle)), b""))
                continue
            padded, trimmed = padded + mend.padded, trimmed + (not mend.padded)
            edits.append((offset, offset + len(needle), mend.replacement.encode(self.encoding)))
        self.tally.add(padded=padded, trimmed=trimmed, rejects=rejects)
        if not padded + trimmed:
            return None  # pyarrow already left the rejected rows out
        view, start = memoryview(data), 0
        pieces: list[bytes | memoryview] = []
        for begin, end, replacement in sorted(edits):
            pieces += [view[start:begin], replacement]
            start = end
        pieces.append(view[start:])
        return b"".join(pieces)

    def reject_all(self, data: bytes, newline: bytes, first_line: LineBase) -> None:
        """Reject every reported row as it is (a second pass: what mending did not fix is not tried again)."""
        rejects = []
        for expected, text in self.rows:
            offset = _find_row(data, text.encode(self.encoding, "replace"), newline, 0)
            rejects.append(
                Reject(
                    first_line.line_at(data, offset, newline) if offset >= 0 else 0,
                    text,
                    self.tally.mend(text, expected).reason,
                )
            )
        self.tally.add(padded=0, trimmed=0, rejects=rejects)

    def _fail(self, data: bytes, newline: bytes, first_line: LineBase) -> None:
        """The strict reading: the earliest disagreeing row fails the file."""
        found = []
        for expected, text in self.rows:
            offset = _find_row(data, text.encode(self.encoding, "replace"), newline, 0)
            fields = next(csv.reader([text], delimiter=self.tally.delimiter, quotechar=self.tally.quote_char), [])
            found.append((first_line.line_at(data, offset, newline) if offset >= 0 else 0, len(fields), expected))
        line, field_count, expected = min(found)
        raise ServiceError(
            ErrorCode.PARSE_ERROR, f"Line {line} has {field_count} fields where the header has {expected}"
        )


class LineBase:
    """The file line a piece of text starts on; computed only when a disagreeing row needs it."""

    def __init__(self, count_before: Callable[[], int] = lambda: 0) -> None:
        self._count_before = count_before
        self._base: int | None = None

    def line_at(self, data: bytes | memoryview, offset: int, newline: bytes) -> int:
        if self._base is None:
            self._base = self._count_before()
        return self._base + count_newlines(data, newline, offset) + 1


def count_newlines(data: bytes | memoryview, newline: bytes, stop: int | None = None) -> int:
    array = np.frombuffer(data, dtype=np.uint8, count=len(data) if stop is None else stop)
    return int(np.count_nonzero(array == newline[0]))


def _line_end(data: bytes, end: int) -> int:
    return end + (2 if data[end : end + 2] == b"\r\n" else 1 if data[end : end + 1] in (b"\r", b"\n") else 0)


def _find_row(haystack: bytes, needle: bytes, newline: bytes, start: int) -> int:
    """Where a row with this text starts, at or after `start`: after a line break and before one (or the end)."""
    while True:
        offset = haystack.find(needle, start)
        if offset < 0:
            return -1
        end = offset + len(needle)
        starts_line = offset == 0 or haystack[offset - 1 : offset] in (b"\n", b"\r")
        ends_line = end == len(haystack) or haystack[end : end + 1] in (b"\n", b"\r")
        if starts_line and ends_line:
            return offset
        start = offset + 1
