"""Following a file that is still being written: the chunked, gzip and serial readers wait for bytes,
and an upload that is cut off or stops arriving fails with its reason instead of hanging."""

from __future__ import annotations

import gzip
import threading
import time
from pathlib import Path

import pytest

from services.ingest.follow import COMPLETE, FollowedFile, UploadCutOff, write_upload_state
from services.ingest.parse import detect_file_dialect, read_with_dialect
from services.ingest.stream import parse_and_write

LIMIT = 10**10


def write_slowly(
    target: Path, content: bytes, state: Path, *, pieces: int = 20, pause: float = 0.02, end: str | None = COMPLETE
) -> threading.Thread:
    """Append `content` in pieces on a thread, then write the state file as the upload path does."""
    target.write_bytes(b"")

    def run() -> None:
        step = len(content) // pieces + 1
        with target.open("ab") as out:
            for offset in range(0, len(content), step):
                out.write(content[offset : offset + step])
                out.flush()
                time.sleep(pause)
        if end is not None:
            write_upload_state(state, end, str(len(content)) if end == COMPLETE else "the client went away")

    thread = threading.Thread(target=run)
    thread.start()
    return thread


@pytest.mark.parametrize(
    ("compress", "body"),
    [
        (False, "".join(f"{i},name {i},{i * 0.5}\n" for i in range(20_000))),  # chunked
        (True, "".join(f"{i},name {i},{i * 0.5}\n" for i in range(20_000))),  # gzip, chunked
        (False, "".join(f'{i},"two\nlines {i}",{i * 0.5}\n' for i in range(20_000))),  # serial: quoted breaks
    ],
)
def test_a_growing_file_is_parsed_as_it_arrives_and_matches_the_finished_one(tmp_path, compress, body):
    content = ("id,name,value\n" + body).encode()
    content = gzip.compress(content) if compress else content
    source, state = tmp_path / "original", tmp_path / "upload.state"
    writer = write_slowly(source, content, state)
    followed = FollowedFile(source, state, stall_seconds=10)
    dialect = detect_file_dialect(source, options={}, followed=followed)
    table, how = parse_and_write(
        source, dialect, tmp_path / "out.parquet", max_decompressed=LIMIT, followed=followed, chunk_bytes=32 * 1024
    )
    writer.join()
    assert followed.complete and followed.final_size == len(content) and followed.waited > 0
    assert table.num_rows == 20_000
    assert table.equals(read_with_dialect(source, dialect, max_decompressed=LIMIT)), how


def test_an_upload_cut_off_fails_the_reading_with_its_reason(tmp_path):
    source, state = tmp_path / "original", tmp_path / "upload.state"
    content = ("a,b\n" + "".join(f"{i},{i}\n" for i in range(50_000))).encode()
    writer = write_slowly(source, content[: len(content) // 2], state, end="aborted")
    followed = FollowedFile(source, state, stall_seconds=10)
    with pytest.raises(UploadCutOff) as cut:
        parse_and_write(
            source,
            detect_file_dialect(source, options={}, followed=followed),
            tmp_path / "o.parquet",
            max_decompressed=LIMIT,
            followed=followed,
            chunk_bytes=64 * 1024,
        )
    writer.join()
    assert "The upload was cut off after" in cut.value.message and "the client went away" in cut.value.message


def test_an_upload_that_stops_arriving_fails_after_the_stall_time(tmp_path):
    source, state = tmp_path / "original", tmp_path / "upload.state"
    source.write_bytes(b"a,b\n1,2\n")  # ... and nothing more, and no state: its writer died
    followed = FollowedFile(source, state, stall_seconds=0.3)
    started = time.monotonic()
    with pytest.raises(UploadCutOff) as stalled:
        followed.wait_complete()
    assert 0.3 <= time.monotonic() - started < 5
    assert stalled.value.message == "The upload stopped arriving after 8 bytes (nothing for 0.3 s)"
