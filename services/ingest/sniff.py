"""Judge an upload from its bytes, before anything is stored: delimited text, gzip of it, or refused."""

from __future__ import annotations

import gzip
import io
import threading
import zipfile
import zlib
from pathlib import Path
from typing import TYPE_CHECKING

from services.errors import ErrorCode, ServiceError

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

    from services.ingest.follow import FollowedFile

SAMPLE_BYTES = 64 * 1024

# Magic numbers of formats people upload by mistake, with the hint we give back.
_KNOWN_BINARIES: list[tuple[bytes, str]] = [
    (b"PK\x03\x04", "This is a zip archive, not a workbook (.xlsx, .ods) or delimited text"),
    (b"%PDF", "This is a PDF document, not delimited text"),
    (b"\x89PNG", "This is a PNG image, not delimited text"),
    (b"\xff\xd8\xff", "This is a JPEG image, not delimited text"),
    (b"SQLite format 3", "This is a SQLite database, not delimited text"),
    (b"\x7fELF", "This is an executable, not delimited text"),
    (b"BZh", "bzip2 archives are not supported; upload plain or gzipped CSV"),
    (b"\xfd7zXZ", "xz archives are not supported; upload plain or gzipped CSV"),
]
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")


def is_gzip(head: bytes) -> bool:
    return head[:2] == b"\x1f\x8b"


def is_gzip_file(path: Path) -> bool:
    with path.open("rb") as raw:
        return is_gzip(raw.read(2))


def read_text_head(path: Path, size: int = SAMPLE_BYTES, followed: FollowedFile | None = None) -> bytes:
    """The first bytes of the text, decompressing gzip when needed (waiting for them if still arriving)."""
    if followed is not None:
        followed.wait_for(2)
    gzipped = is_gzip_file(path)
    if not gzipped:
        if followed is not None:
            followed.wait_for(size)
        with path.open("rb") as raw:
            return raw.read(size)
    # Inflated piece by piece: a gzip that is still arriving (or cut short) yields what it has so far.
    decompressor, out = zlib.decompressobj(31), bytearray()
    try:
        with followed.open() if followed is not None else path.open("rb") as raw:
            while len(out) < size and not decompressor.eof:
                block = decompressor.unconsumed_tail or raw.read(SAMPLE_BYTES)
                if not block:
                    break
                out += decompressor.decompress(block, size - len(out))
    except zlib.error as exc:
        raise ServiceError(ErrorCode.UNSUPPORTED_FILE, f"The gzip data is corrupt: {exc}") from exc
    return bytes(out)


TEXT, GZIP, XLSX, XLS, ODS, PARQUET = "text", "gzip", "xlsx", "xls", "ods", "parquet"
STRAY_NULS, STRAY_NUL_SHARE = 8, 0.01  # more NULs than both in the head: binary, not text with stray NULs


def file_kind(path: Path, followed: FollowedFile | None = None) -> str:
    """What the upload is, from its bytes (never its name): text, gzip, xlsx, xls, ods or parquet."""
    if followed is not None:
        followed.wait_for(8)
    with path.open("rb") as raw:
        head = raw.read(8)
    if followed is not None and head.startswith(b"PK"):
        followed.wait_complete()  # a zip's directory is at its end
    if head.startswith(b"PAR1"):
        return PARQUET
    if head.startswith(b"\xd0\xcf\x11\xe0"):  # a compound file: legacy Excel, or an encrypted workbook
        return XLS
    if head.startswith(b"PK\x03\x04"):
        return _zip_kind(path)
    return GZIP if is_gzip(head) else TEXT


def _zip_kind(path: Path) -> str:
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            mimetype = archive.read("mimetype")[:100] if "mimetype" in names else b""
    except (zipfile.BadZipFile, OSError, KeyError):
        names, mimetype = set(), b""
    if "[Content_Types].xml" in names and any(name.startswith("xl/") for name in names):
        return XLSX
    if b"opendocument.spreadsheet" in mimetype:
        return ODS
    return TEXT  # refused by check_upload with the zip hint


def check_upload(path: Path) -> str:
    """Refuse what Assay cannot read; return the file's kind (see `file_kind`)."""
    kind = file_kind(path)
    if kind in (PARQUET, XLS, XLSX, ODS):
        return kind
    check_delimited_text(path)
    return kind


def check_delimited_text(path: Path) -> bool:
    """Refuse content that is not delimited text; return whether the file is gzipped.

    A few stray NUL bytes do not make a file binary: the parse removes and counts them.
    """
    with path.open("rb") as raw:
        raw_head = raw.read(16)
    if not raw_head:
        raise ServiceError(ErrorCode.PARSE_ERROR, "The file is empty")
    gzipped = is_gzip(raw_head)
    head = read_text_head(path)
    for magic, hint in _KNOWN_BINARIES:
        if head.startswith(magic):
            raise ServiceError(ErrorCode.UNSUPPORTED_FILE, hint)
    if not head.strip(b" \t\r\n\x00"):
        raise ServiceError(
            ErrorCode.PARSE_ERROR, "The file has no content" if not gzipped else "The gzip archive is empty"
        )
    if head.startswith(_UTF16_BOMS):
        return gzipped
    if head.count(b"\x00") > max(STRAY_NULS, STRAY_NUL_SHARE * len(head)):
        raise ServiceError(ErrorCode.UNSUPPORTED_FILE, "The file contains binary data, not delimited text")
    controls = sum(1 for byte in head if 0 < byte < 9 or 13 < byte < 32)
    if controls > len(head) * 0.01:
        raise ServiceError(ErrorCode.UNSUPPORTED_FILE, "The file contains binary data, not delimited text")
    return gzipped


class NulCount:
    """NUL bytes removed from a text, counted across the readers and threads that removed them."""

    def __init__(self) -> None:
        self.removed = 0
        self._lock = threading.Lock()

    def strip(self, data: bytes) -> bytes:
        clean = data.replace(b"\x00", b"")
        with self._lock:
            self.removed += len(data) - len(clean)
        return clean


class NulFreeReader(io.RawIOBase):
    """A stream's bytes with stray NULs left out."""

    def __init__(self, inner: io.RawIOBase, nuls: NulCount) -> None:
        self._inner, self._nuls = inner, nuls

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        with memoryview(buffer) as target:  # released on return: a caller may resize its bytearray next
            while True:
                data = self._inner.read(len(target))
                if not data:
                    return 0
                if b"\x00" in data:
                    data = self._nuls.strip(data)
                    if not data:
                        continue
                target[: len(data)] = data
                return len(data)

    def close(self) -> None:
        self._inner.close()
        super().close()


class CappedGzipReader(io.RawIOBase):
    """Decompresses gzip while counting output, refusing archives that inflate past a cap (gzip bombs)."""

    def __init__(self, source: Path | io.RawIOBase, max_bytes: int) -> None:
        self._file = gzip.open(source, "rb")  # noqa: SIM115 - this reader owns it: close() closes it
        self._max = max_bytes
        self._produced = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        count = self._file.readinto(buffer)
        self._produced += count
        if self._produced > self._max:
            raise ServiceError(
                ErrorCode.PAYLOAD_TOO_LARGE,
                f"The gzip archive expands beyond the {self._max // (1024 * 1024)} MB limit",
            )
        return count

    def close(self) -> None:
        self._file.close()
        super().close()
