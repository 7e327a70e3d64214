"""Multipart uploads written straight into the data directory, then moved into place: no second copy.

Starlette spools each file part to a temporary file in /tmp (one thread hop per 64 KB chunk) and
the upload service then copied it into the dataset's folder. Here the part is written to
`<data dir>/uploads/` in 4 MB batches off the event loop, and the service renames it into place.
Whatever a request staged and did not move is deleted when the request ends.

Ready when the upload is: once the operation and the file map have arrived and the one file's
part begins, the form is handed to Strawberry at once and the rest of the body keeps streaming
to disk on a task. The resolver creates the dataset and starts its INGEST job, which follows
the growing file (services.ingest.follow); when the body ends, a state file says how. The
response waits for the last byte (`finish_staged`); a body cut off or over the limit ends the
upload's dataset and job, so nothing half-written is left.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import json
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, BinaryIO

from cross_web import FormData as AdapterFormData
from cross_web import HTTPException, StarletteRequestAdapter
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.datastructures import FormData, Headers, UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser, _user_safe_decode
from starlette.requests import ClientDisconnect, Request

from server.request_limits import RequestRefused
from services.errors import ErrorCode, ServiceError
from services.ingest.disk import check_room, free_bytes, is_disk_full
from services.ingest.follow import ABORTED, COMPLETE, write_upload_state

WRITE_BATCH = 4 * 1024 * 1024
STAGING_FOLDER = "uploads"


class StagedUpload(UploadFile):
    """An uploaded file already on disk in the data directory; `staged_path` may be renamed into place.

    While its bytes are still arriving it is also the `arrival` the upload service follows
    (services.datasets.upload.UploadArrival): how much is on disk, how it ended, where to say so.
    """

    def __init__(self, *, file: BinaryIO, staged_path: Path, filename: str | None, headers: Headers) -> None:
        super().__init__(file=file, size=0, filename=filename, headers=headers)
        self.staged_path = staged_path
        self.arriving = False  # the body is still streaming in (set by an early hand-over)
        self.failure: str | None = None
        self.state_path: Path | None = None
        self.rest: asyncio.Task | None = None
        self.cut_off_actions: list[Callable[[], Awaitable[None]]] = []
        self._grew = asyncio.Event()

    @property
    def finished(self) -> bool:
        return not self.arriving

    async def wait_for_bytes(self, count: int) -> None:
        """Until `count` bytes are on disk or the body has ended."""
        while self.arriving and (self.size or 0) < count:
            self._grew.clear()
            await self._grew.wait()

    async def wait_complete(self) -> None:
        await self.wait_for_bytes(1 << 62)

    def report_state_to(self, state_path: Path) -> None:
        """Where the follower reads how the body ended (written now if it already has)."""
        self.state_path = state_path
        self._publish()

    def on_cut_off(self, action: Callable[[], Awaitable[None]]) -> None:
        self.cut_off_actions.append(action)

    def _ended(self, failure: str | None) -> None:
        self.arriving, self.failure = False, failure
        self._grew.set()
        self._publish()

    def _publish(self) -> None:
        if self.state_path is not None and not self.arriving:
            write_upload_state(
                self.state_path, ABORTED if self.failure else COMPLETE, self.failure or str(self.size or 0)
            )


class StagingMultiPartParser(MultiPartParser):
    def __init__(
        self, headers: Headers, stream: Any, *, staging_dir: Path, staged: list[StagedUpload], max_file_bytes: int
    ) -> None:
        super().__init__(headers, stream)
        self.staging_dir = staging_dir
        self.staged = staged
        self.max_file_bytes = max_file_bytes
        self._pending: dict[int, bytearray] = {}
        self._early: StagedUpload | None = None

    def on_headers_finished(self) -> None:
        _disposition, options = parse_options_header(self._current_part.content_disposition)
        if b"filename" not in options:
            return super().on_headers_finished()
        try:
            self._current_part.field_name = _user_safe_decode(options[b"name"], self._charset)
        except KeyError:
            raise MultiPartException('The Content-Disposition header field "name" must be provided.') from None
        self._current_files += 1
        if self._current_files > self.max_files:
            raise MultiPartException(f"Too many files. Maximum number of files is {self.max_files}.")
        self.staging_dir.mkdir(parents=True, exist_ok=True)
        path = self.staging_dir / f"{uuid.uuid4().hex}.part"  # never from the client's file name
        upload = StagedUpload(
            file=path.open("w+b"),
            staged_path=path,
            headers=Headers(raw=self._current_part.item_headers),
            filename=_user_safe_decode(options[b"filename"], self._charset),
        )
        self.staged.append(upload)
        self._current_part.file = upload
        if self._is_the_only_file(self._current_part.field_name):
            self._early = upload
        return None

    def _is_the_only_file(self, field_name: str) -> bool:
        """The operation and a map naming this part as its one file have arrived: it can be handed over now."""
        fields = dict(self.items)
        raw_map = fields.get("map", "")
        if not isinstance(raw_map, str):  # a file where the map belongs
            return False
        try:
            files_map = json.loads(raw_map)
        except (TypeError, ValueError):
            return False
        return "operations" in fields and isinstance(files_map, dict) and list(files_map) == [field_name]

    async def parse(self) -> FormData:
        _, params = parse_options_header(self.headers["Content-Type"])
        charset = params.get(b"charset", b"utf-8")
        try:
            self._charset = codecs.lookup(charset.decode("latin-1") if isinstance(charset, bytes) else charset).name
        except LookupError:
            self._charset = "latin-1"
        boundary = params.get(b"boundary")
        if boundary is None:
            raise MultiPartException("Missing boundary in multipart.")
        parser = MultipartParser(
            boundary,
            {
                "on_part_begin": self.on_part_begin,
                "on_part_data": self.on_part_data,
                "on_part_end": self.on_part_end,
                "on_header_field": self.on_header_field,
                "on_header_value": self.on_header_value,
                "on_header_end": self.on_header_end,
                "on_headers_finished": self.on_headers_finished,
                "on_end": self.on_end,
            },
        )
        chunks = self.stream.__aiter__()
        try:
            async for chunk in chunks:
                parser.write(chunk)
                await self._write_file_data(final=False)
                if self._early is not None and all(value is not self._early for _, value in self.items):
                    return self._hand_over_early(parser, chunks, self._early)
                self._early = None  # (a part that ended in the same piece of body needs no hand-over)
            parser.finalize()
        except FormParserError as exc:
            raise MultiPartException("Invalid multipart data.") from exc
        await self._write_file_data(final=True)
        return FormData(self.items)

    def _hand_over_early(self, parser: MultipartParser, chunks: Any, upload: StagedUpload) -> FormData:
        upload.arriving = True
        upload.rest = asyncio.create_task(self._receive_rest(parser, chunks, upload))
        return FormData([*self.items, (self._current_part.field_name, upload)])  # (its part has not ended yet)

    async def _receive_rest(self, parser: MultipartParser, chunks: Any, upload: StagedUpload) -> None:
        """The rest of the body, after the hand-over; how it ended goes to the upload's follower."""
        try:
            async for chunk in chunks:
                parser.write(chunk)
                await self._write_file_data(final=False)
                if (upload.size or 0) > self.max_file_bytes:
                    raise FileTooLarge
            parser.finalize()
            await self._write_file_data(final=True)
        except BaseException as exc:
            upload._ended(
                "the upload was too large"
                if isinstance(exc, (FileTooLarge, BodyTooLarge))
                else "the disk filled up"
                if isinstance(exc, DiskFilled)
                else "the client went away"
                if isinstance(exc, ClientDisconnect)
                else f"{type(exc).__name__}"
            )
            raise
        upload._ended(None)

    async def _write_file_data(self, *, final: bool) -> None:
        """Gather file bytes per part; write 4 MB at a time off the loop, the rest when the part ends."""
        for part, data in self._file_parts_to_write:
            self._pending.setdefault(id(part.file), bytearray()).extend(data)
        self._file_parts_to_write.clear()
        finished = {id(part.file) for part in self._file_parts_to_finish}
        for upload in self.staged:
            pending = self._pending.get(id(upload))
            if pending and (len(pending) >= WRITE_BATCH or final or id(upload) in finished):
                self._pending[id(upload)] = bytearray()
                try:
                    await asyncio.to_thread(_append, upload.file, bytes(pending))
                except OSError as exc:
                    if is_disk_full(exc):
                        raise DiskFilled(self.staging_dir) from exc
                    raise
                upload.size = (upload.size or 0) + len(pending)
                upload._grew.set()
        for part in self._file_parts_to_finish:
            if part.file is not None:  # (a file part always has its file)
                await asyncio.to_thread(part.file.file.seek, 0)
        self._file_parts_to_finish.clear()


def _append(file: BinaryIO, data: bytes) -> None:
    """Written through to the file, so a worker following it sees every byte that has arrived."""
    file.write(data)
    file.flush()


class FileTooLarge(Exception):
    """The file part passed the upload limit while streaming in."""


class DiskFilled(RequestRefused):
    """The disk filled up while an upload was being stored (one without a Content-Length, or others' files grew)."""

    def __init__(self, folder: Path) -> None:
        super().__init__(
            f"The disk filled up while storing the upload ({free_bytes(folder) / 2**20:,.1f} MB free); "
            "nothing was kept",
            code=ErrorCode.PAYLOAD_TOO_LARGE,
            status=507,
        )


def refuse_without_room(data_dir: Path, declared_length: int) -> None:
    """Before a byte of a multipart upload is stored: its declared length, twice (the original and its Parquet
    copy), must fit the free disk; else a 507 naming how much is free."""
    try:
        check_room(data_dir, declared_length)
    except ServiceError as exc:
        raise RequestRefused(exc.message, code=ErrorCode.PAYLOAD_TOO_LARGE, status=507) from exc


class StagingRequestAdapter(StarletteRequestAdapter):
    async def get_form_data(self) -> AdapterFormData:
        request: Request = self._request
        staging_dir = request.app.state.assay.settings.resolved_data_dir / STAGING_FOLDER
        try:
            form = await StagingMultiPartParser(
                request.headers,
                request.stream(),
                staging_dir=staging_dir,
                staged=staged_uploads(request),
                max_file_bytes=request.app.state.assay.settings.max_upload_bytes,
            ).parse()
        except MultiPartException as exc:  # e.g. an `operations` field over 1 MB: the view answers 400
            raise RequestRefused(exc.message) from exc
        return AdapterFormData(files=form, form=form)


def staged_uploads(request: Request) -> list[StagedUpload]:
    """This request's staged files (kept in the ASGI scope's state, shared by every Request on it)."""
    if not hasattr(request.state, "staged_uploads"):
        request.state.staged_uploads = []
    return request.state.staged_uploads


async def finish_staged(request: Request) -> None:
    """Wait for the last byte of an upload handed over early; if it never came, undo what it started.

    A body over the limit is raised again (the view answers 413); a client that went away gets no answer.
    """
    for upload in staged_uploads(request):
        if upload.rest is None:
            continue
        try:
            await upload.rest
        except (FileTooLarge, BodyTooLarge, ClientDisconnect, MultiPartException, FormParserError, DiskFilled) as exc:
            for action in upload.cut_off_actions:
                await action()
            if isinstance(exc, DiskFilled):
                raise
            if isinstance(exc, (FileTooLarge, BodyTooLarge)):
                raise BodyTooLarge from exc
            if isinstance(exc, (MultiPartException, FormParserError)):
                raise HTTPException(400, "Unable to parse the multipart body") from exc


def discard_staged(request: Request) -> None:
    """Close and delete what the request staged; files the upload service moved are already gone.

    A body still streaming in (the request failed before `finish_staged`) is stopped: its follower sees it aborted.
    """
    for upload in staged_uploads(request):
        if upload.rest is not None and not upload.rest.done():
            upload.rest.cancel()
        upload.file.close()
        upload.staged_path.unlink(missing_ok=True)


ABANDONED_STAGING_SECONDS = 600


def clear_staging(data_dir: Path, *, idle_seconds: float = ABANDONED_STAGING_SECONDS) -> None:
    """At start-up: remove staged uploads of requests that died with a server. Replicas share the data dir,
    so a file still being written belongs to another replica's live request: only files nobody has written
    for `idle_seconds` are removed (a live upload writes every chunk as it arrives)."""
    idle_since = time.time() - idle_seconds
    for leftover in (data_dir / STAGING_FOLDER).glob("*.part"):
        with contextlib.suppress(FileNotFoundError):  # its own request, or another replica, removed it first
            if leftover.stat().st_mtime < idle_since:
                leftover.unlink(missing_ok=True)


class BodyTooLarge(Exception):
    """The request body passed the upload limit (raised by the view's capped `receive`)."""


def replace_file_placeholders(operations: dict[str, Any], files_map: object, files: Any) -> dict[str, Any]:
    """Put each uploaded file where the multipart `map` says, refusing maps the spec does not allow.

    Each entry maps a file part's name to a list of dotted paths to `null` placeholders in the
    variables (`{"0": ["variables.input.file"]}`). Anything else would reach a resolver as a string,
    a number or an exception, so it is a 400 here.
    """
    if not isinstance(files_map, dict):
        raise RequestRefused("The multipart `map` must be an object of file names to lists of paths")
    for name, paths in files_map.items():
        upload = files.get(name)
        if not isinstance(upload, UploadFile):
            raise RequestRefused(f"The multipart `map` names {name!r}, which is not a file part of the request")
        if not isinstance(paths, list) or not paths or not all(isinstance(path, str) for path in paths):
            raise RequestRefused(f"The multipart `map` entry {name!r} must be a non-empty list of path strings")
        for path in paths:
            container, key = _placeholder(operations, path)
            container[key] = upload
    return operations


def _placeholder(operations: dict[str, Any], path: str) -> tuple[Any, Any]:
    keys = path.split(".")
    if keys[0] != "variables" or len(keys) < 2:
        raise RequestRefused(f"The multipart `map` path {path!r} must point into `variables`")
    target: Any = operations
    holder: Any
    index: str | int
    for depth, key in enumerate(keys):
        last = depth == len(keys) - 1
        if isinstance(target, dict) and key in target:
            holder, index = target, key
        elif isinstance(target, list) and key.isdigit() and int(key) < len(target):
            holder, index = target, int(key)
        else:
            raise RequestRefused(f"The multipart `map` path {path!r} is not in the operation's variables")
        if last:
            if holder[index] is not None:
                raise RequestRefused(f"The multipart `map` path {path!r} must point at a null placeholder")
            return holder, index
        target = holder[index]
    raise AssertionError("unreachable")
