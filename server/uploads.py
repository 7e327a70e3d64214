"""Multipart uploads written straight into the data directory, then moved into place: no second copy.

Starlette spools each file part to a temporary file in /tmp (one thread hop per 64 KB chunk) and
the upload service then copied it into the dataset's folder. Here the part is written to
`<data dir>/uploads/` in 4 MB batches off the event loop, and the service renames it into place.
Whatever a request staged and did not move is deleted when the request ends.
"""
from __future__ import annotations

import asyncio
import codecs
import uuid
from pathlib import Path
from typing import Any, BinaryIO

from cross_web import FormData as AdapterFormData
from cross_web import StarletteRequestAdapter
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.datastructures import FormData, Headers, UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser, _user_safe_decode
from starlette.requests import Request

from server.request_limits import RequestRefused

WRITE_BATCH = 4 * 1024 * 1024
STAGING_FOLDER = "uploads"


class StagedUpload(UploadFile):
    """An uploaded file already on disk in the data directory; `staged_path` may be renamed into place."""

    def __init__(self, *, file: BinaryIO, staged_path: Path, filename: str | None, headers: Headers) -> None:
        super().__init__(file=file, size=0, filename=filename, headers=headers)
        self.staged_path = staged_path


class StagingMultiPartParser(MultiPartParser):
    def __init__(self, headers: Headers, stream: Any, *, staging_dir: Path, staged: list[StagedUpload]) -> None:
        super().__init__(headers, stream)
        self.staging_dir = staging_dir
        self.staged = staged
        self._pending: dict[int, bytearray] = {}

    def on_headers_finished(self) -> None:
        disposition, options = parse_options_header(self._current_part.content_disposition)
        if b"filename" not in options:
            return super().on_headers_finished()
        try:
            self._current_part.field_name = _user_safe_decode(options[b"name"], self._charset)
        except KeyError:
            raise MultiPartException('The Content-Disposition header field "name" must be provided.')
        self._current_files += 1
        if self._current_files > self.max_files:
            raise MultiPartException(f"Too many files. Maximum number of files is {self.max_files}.")
        self.staging_dir.mkdir(parents=True, exist_ok=True)
        path = self.staging_dir / f"{uuid.uuid4().hex}.part"  # never from the client's file name
        upload = StagedUpload(file=path.open("w+b"), staged_path=path, headers=Headers(raw=self._current_part.item_headers),
                              filename=_user_safe_decode(options[b"filename"], self._charset))
        self.staged.append(upload)
        self._current_part.file = upload

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
        parser = MultipartParser(boundary, {
            "on_part_begin": self.on_part_begin, "on_part_data": self.on_part_data, "on_part_end": self.on_part_end,
            "on_header_field": self.on_header_field, "on_header_value": self.on_header_value,
            "on_header_end": self.on_header_end, "on_headers_finished": self.on_headers_finished, "on_end": self.on_end})
        try:
            async for chunk in self.stream:
                parser.write(chunk)
                await self._write_file_data(final=False)
            parser.finalize()
        except FormParserError as exc:
            raise MultiPartException("Invalid multipart data.") from exc
        await self._write_file_data(final=True)
        return FormData(self.items)

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
                await asyncio.to_thread(upload.file.write, bytes(pending))
                upload.size = (upload.size or 0) + len(pending)
        for part in self._file_parts_to_finish:
            await asyncio.to_thread(part.file.file.seek, 0)
        self._file_parts_to_finish.clear()


class StagingRequestAdapter(StarletteRequestAdapter):
    async def get_form_data(self) -> AdapterFormData:
        request: Request = self._request
        staging_dir = request.app.state.assay.settings.resolved_data_dir / STAGING_FOLDER
        try:
            form = await StagingMultiPartParser(request.headers, request.stream(), staging_dir=staging_dir,
                                                staged=staged_uploads(request)).parse()
        except MultiPartException as exc:  # Strawberry answers a ValueError here with a 400
            raise ValueError(exc.message) from exc
        return AdapterFormData(files=form, form=form)


def staged_uploads(request: Request) -> list[StagedUpload]:
    """This request's staged files (kept in the ASGI scope's state, shared by every Request on it)."""
    if not hasattr(request.state, "staged_uploads"):
        request.state.staged_uploads = []
    return request.state.staged_uploads


def discard_staged(request: Request) -> None:
    """Close and delete what the request staged; files the upload service moved are already gone."""
    for upload in staged_uploads(request):
        upload.file.close()
        upload.staged_path.unlink(missing_ok=True)


def clear_staging(data_dir: Path) -> None:
    """At start-up: anything left in the staging folder belonged to a request that died with the server."""
    for leftover in (data_dir / STAGING_FOLDER).glob("*.part"):
        leftover.unlink(missing_ok=True)


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
