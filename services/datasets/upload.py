"""Taking an upload in: its display name, the CSV options ingest can use, the copy to disk under the size
limit, and whether an upload still arriving can be judged yet (services/datasets/service.py starts its job)."""

from __future__ import annotations

import codecs
import os
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from services import files
from services.errors import ErrorCode, ServiceError, invalid
from services.ingest.ragged import POLICIES
from services.ingest.sniff import check_upload, read_text_head
from services.names import MAX_NAME

COPY_CHUNK = 1024 * 1024


def display_name(file_name: str | None) -> str:
    """The base name a client sent, for display only: never used to build a path."""
    base = (file_name or "").replace("\\", "/").rsplit("/", 1)[-1].strip()
    base = "".join(ch for ch in base if ch.isprintable())
    return base[:MAX_NAME] or "upload.csv"


BOM_ENCODINGS = {
    "utf-16": (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE),
    "utf-32": (codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE),
}


def validate_csv_options(options: dict[str, Any]) -> dict[str, Any]:
    """The CSV options ingest can use, cleaned; anything else is INVALID_INPUT naming the option (before a job)."""
    cleaned: dict[str, Any] = {}
    delimiter = options.get("delimiter")
    if delimiter is not None:
        delimiter = {"\\t": "\t", "tab": "\t"}.get(delimiter, delimiter)
        if (
            len(delimiter) != 1
            or delimiter in '"\r\n'
            or not delimiter.isascii()
            or not (delimiter.isprintable() or delimiter == "\t")
        ):
            raise invalid(
                "The delimiter must be one printable ASCII character (e.g. ',' ';' '\\t' '|')", ["csv", "delimiter"]
            )
        cleaned["delimiter"] = delimiter
    if options.get("encoding"):
        cleaned["encoding"] = _text_encoding(options["encoding"])
    if options.get("has_header") is not None:
        cleaned["has_header"] = bool(options["has_header"])
    if options.get("na_values") is not None:
        cleaned["na_values"] = list(options["na_values"])
    if options.get("on_bad_lines") is not None:
        if options["on_bad_lines"] not in POLICIES:
            raise invalid(f"onBadLines must be one of {', '.join(POLICIES)}", ["csv", "onBadLines"])
        cleaned["on_bad_lines"] = options["on_bad_lines"]
    if options.get("sheet") is not None:
        if not str(options["sheet"]).strip() or len(options["sheet"]) > 255:
            raise invalid("The sheet name must be 1-255 characters", ["csv", "sheet"])
        cleaned["sheet"] = options["sheet"]
    return cleaned


def _text_encoding(name: str) -> str:
    """A codec that decodes bytes to text (not base64, zlib or rot13), by its canonical name."""
    try:
        codec = codecs.lookup(name)
    except (LookupError, ValueError) as exc:
        raise invalid(f"Unknown encoding {name!r}", ["csv", "encoding"]) from exc
    if not getattr(codec, "_is_text_encoding", True):
        raise invalid(f"{name!r} is not a text encoding", ["csv", "encoding"])
    # Decoded from an Arrow buffer, as ingest's transcoder hands them: codecs that need `bytes` (punycode) fail here.
    import pyarrow

    if codec.name not in BOM_ENCODINGS:  # those need the file's byte-order mark: checked once it is stored
        try:
            codecs.getincrementaldecoder(codec.name)(errors="replace").decode(pyarrow.py_buffer(b"a,b\n1,2\n"), True)
        except (UnicodeError, TypeError, ValueError, AttributeError) as exc:
            raise invalid(f"{name!r} cannot decode a CSV file ({exc})", ["csv", "encoding"]) from exc
    return codec.name


def check_options_fit_file(path: Path, options: dict[str, Any]) -> None:
    """UTF-16/UTF-32 without an endianness need a byte-order mark; refuse such a file before its job starts."""
    boms = BOM_ENCODINGS.get(options.get("encoding", ""))
    if boms and not read_text_head(path, 4).startswith(boms):
        raise invalid(
            f"The file has no {options['encoding'].upper()} byte-order mark; name the byte order "
            f"({options['encoding']}-le or {options['encoding']}-be)",
            ["csv", "encoding"],
        )


class UploadArrival(Protocol):
    """An upload whose bytes may still be arriving (server.uploads.StagedUpload)."""

    finished: bool
    failure: str | None
    staged_path: Path

    async def wait_for_bytes(self, count: int) -> None: ...
    async def wait_complete(self) -> None: ...
    def report_state_to(self, state_path: Path) -> None: ...


def store_upload(source: BinaryIO, target: Path, max_bytes: int, staged_path: Path | None = None) -> int:
    """Move a staged upload into place, or copy a stream in chunks; refuse (and remove) one over `max_bytes`.

    A staged file still arriving is moved all the same: its writer keeps appending to the moved file.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    if staged_path is not None:
        size = staged_path.stat().st_size
        if size > max_bytes:
            raise ServiceError(
                ErrorCode.PAYLOAD_TOO_LARGE, f"The file is larger than the {max_bytes // (1024 * 1024)} MB limit"
            )
        os.replace(staged_path, target)  # same file system (both in the data directory): a rename, not a copy
        check_upload(target)
        return size
    written = 0
    with files.atomic_output(target) as temporary, temporary.open("wb") as out:
        while chunk := source.read(COPY_CHUNK):
            written += len(chunk)
            if written > max_bytes:
                raise ServiceError(
                    ErrorCode.PAYLOAD_TOO_LARGE, f"The file is larger than the {max_bytes // (1024 * 1024)} MB limit"
                )
            out.write(chunk)
    check_upload(target)
    return written


JUDGING_BYTES = 1024 * 1024  # enough of an upload still arriving to judge what it is (its text head, inflated)


async def judgeable(arrival: UploadArrival | None) -> bool:
    """Wait until enough of the upload is on disk to judge it; whether it is still arriving then."""
    if arrival is None:
        return False
    await arrival.wait_for_bytes(JUDGING_BYTES)
    if not arrival.finished and _starts_like_zip(arrival):
        await arrival.wait_complete()  # a workbook is judged by the directory at its end
    if arrival.failure:
        raise ServiceError(
            ErrorCode.PAYLOAD_TOO_LARGE if "too large" in arrival.failure else ErrorCode.INVALID_INPUT,
            f"The upload did not complete: {arrival.failure}",
        )
    return not arrival.finished


def _starts_like_zip(arrival: Any) -> bool:
    with open(arrival.staged_path, "rb") as head:
        return head.read(2) == b"PK"
