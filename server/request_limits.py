"""What a GraphQL request may carry, checked on the raw bytes before any parser sees them.

Python's JSON parser recurses once per nesting level and turns any digit run into an int, so a body
nested 100,000 deep or a 5,000-digit number ends in RecursionError or ValueError inside Strawberry
(a plain-text 500). Here nesting and number length are measured on the bytes, outside strings, and
every refusal is a `RequestRefused` the view answers with a 400 JSON GraphQL error.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import numpy as np
from graphql import GraphQLSyntaxError, Source, TokenKind
from graphql.language.lexer import Lexer

from services.errors import ErrorCode

BRACKET_STEP = np.zeros(256, dtype=np.int8)
BRACKET_STEP[[ord("["), ord("{")]] = 1
BRACKET_STEP[[ord("]"), ord("}")]] = -1
NUMBER_BYTE = np.zeros(256, dtype=bool)  # outside strings these bytes occur only in numbers (and the e of true/false)
NUMBER_BYTE[[ord(c) for c in "0123456789+-.eE"]] = True
LONE_SURROGATE = re.compile("[\ud800-\udfff]")
SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def _longest_run(mask: np.ndarray) -> int:
    if not mask.any():
        return 0
    edges = np.flatnonzero(np.diff(np.concatenate(([False], mask, [False])).astype(np.int8)))
    return int((edges[1::2] - edges[::2]).max())


def measure_json(raw: bytes) -> tuple[int, int]:
    """(deepest nesting, longest number) of JSON bytes, counting only what lies outside strings.

    A few vectorised passes over the bytes (bench/request_limits.py), no recursion: a quote is escaped
    when an odd run of backslashes precedes it; bytes after an odd count of real quotes are in a string.
    """
    if not raw:
        return 0, 0
    data = np.frombuffer(raw, dtype=np.uint8)
    quote = data == ord('"')
    backslash = data == ord("\\")
    if backslash.any():
        edges = np.flatnonzero(np.diff(np.concatenate(([False], backslash, [False])).astype(np.int8)))
        starts, ends = edges[::2], edges[1::2]
        escaped = ends[(ends - starts) % 2 == 1]
        quote[escaped[escaped < len(data)]] = False
    inside = (np.cumsum(quote, dtype=np.int32) & 1).astype(bool)  # a closing quote itself counts as outside
    steps = BRACKET_STEP[data]
    steps[inside] = 0
    depth = int(np.cumsum(steps, dtype=np.int32).max(initial=0))
    return depth, _longest_run(NUMBER_BYTE[data] & ~inside)


class RequestRefused(Exception):
    """A request the transport will not pass on; `code` goes to the error's extensions."""

    def __init__(self, message: str, *, code: str = "BAD_REQUEST", status: int = 400) -> None:
        super().__init__(message)
        self.message, self.code, self.status = message, code, status


@dataclass(frozen=True)
class RequestLimits:
    max_body_bytes: int = 8 * 1024 * 1024
    max_depth: int = 64
    max_number_length: int = 50
    max_string_length: int = 100_000
    max_tokens: int = 2000  # lexing for long literals stops here: the parser refuses longer documents anyway

    @classmethod
    def from_settings(cls, settings: Any) -> RequestLimits:
        return cls(
            max_body_bytes=int(settings.max_request_mb * 1024 * 1024),
            max_depth=settings.max_json_depth,
            max_number_length=settings.max_number_length,
            max_string_length=settings.max_string_length,
            max_tokens=settings.max_tokens,
        )

    def decode(self, body: bytes | str, *, what: str = "The request body") -> Any:
        """Parse JSON bytes within the limits; anything malformed or over a limit raises RequestRefused."""
        raw = body.encode("utf-8", "surrogatepass") if isinstance(body, str) else body
        if len(raw) > self.max_body_bytes:
            raise RequestRefused(
                f"{what} is larger than {self.max_body_bytes:,} bytes", code=ErrorCode.PAYLOAD_TOO_LARGE, status=413
            )
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise RequestRefused(f"{what} is not UTF-8 (byte {exc.start})") from None
        # Cheap upper bounds first: a typical request has fewer brackets than the depth limit and no long
        # digit run anywhere, strings included; only a body that fails one is measured exactly.
        depth = raw.count(b"[") + raw.count(b"{")
        long_number = re.compile(rb"[-+.eE0-9]{%d}" % (self.max_number_length + 1))
        number = self.max_number_length + 1 if long_number.search(raw) else 0
        if depth > self.max_depth or number:
            depth, number = measure_json(raw)
        if depth > self.max_depth:
            raise RequestRefused(f"{what} nests deeper than {self.max_depth} levels")
        if number > self.max_number_length:
            raise RequestRefused(f"{what} holds a number longer than {self.max_number_length} characters")
        try:
            return json.loads(text)
        except ValueError as exc:  # JSONDecodeError, and ValueError for numbers Python will not convert
            raise RequestRefused(f"{what} is not valid JSON: {exc}") from None

    def parse_operation(self, body: bytes | str, *, what: str = "The request body") -> dict[str, Any]:
        """A GraphQL request object ({query, variables, operationName, extensions}) from JSON, fully checked."""
        raw = body.encode("utf-8", "surrogatepass") if isinstance(body, str) else body
        operation = self.decode(raw, what=what)
        if isinstance(operation, list):
            raise RequestRefused("Batched requests are not supported; send one operation per request")
        if not isinstance(operation, dict):
            raise RequestRefused(f"A GraphQL request must be a JSON object, not {type(operation).__name__}")
        # No string can be longer than the body, and unpaired surrogates can only come from \u escapes.
        walk = len(raw) > self.max_string_length or SURROGATE_ESCAPE.search(raw) is not None
        self.check_operation(
            operation.get("query"),
            operation.get("variables"),
            operation.get("extensions"),
            operation.get("operationName"),
            check_strings=walk,
        )
        return operation

    def check_operation(
        self,
        query: object,
        variables: object,
        extensions: object,
        operation_name: object,
        *,
        check_strings: bool = True,
    ) -> None:
        """The shape the GraphQL-over-HTTP spec requires, and the string limit on every value a client sends."""
        for name, value, kinds in (
            ("query", query, (str,)),
            ("operationName", operation_name, (str,)),
            ("variables", variables, (dict,)),
            ("extensions", extensions, (dict,)),
        ):
            if value is not None and not isinstance(value, kinds):
                wanted = "a string" if kinds == (str,) else "an object"
                raise RequestRefused(f"The request's `{name}` must be {wanted} or null, not {type(value).__name__}")
        if check_strings:
            self._check_strings(variables, "variables")
            self._check_strings(extensions, "extensions")
        if isinstance(query, str) and len(query) > self.max_string_length:  # else no literal in it can be
            self._check_literals(query)

    def _check_strings(self, value: object, where: str) -> None:
        if isinstance(value, str):
            if len(value) > self.max_string_length:
                raise RequestRefused(
                    f"`{where}` is a string of {len(value):,} characters; the limit is {self.max_string_length:,}",
                    code=ErrorCode.INVALID_INPUT,
                )
            if LONE_SURROGATE.search(value):
                raise RequestRefused(
                    f"`{where}` holds an unpaired UTF-16 surrogate, which is not text", code=ErrorCode.INVALID_INPUT
                )
        elif isinstance(value, dict):
            for key, item in value.items():
                self._check_strings(key, where)
                self._check_strings(item, f"{where}.{key}")
        elif isinstance(value, list):
            for index, item in enumerate(value):
                self._check_strings(item, f"{where}.{index}")

    def _check_literals(self, query: str) -> None:
        """String literals written into the document obey the same limit as variables.

        Lexing stops at the first syntax error: the parser reports that one properly, with its location.
        """
        lexer = Lexer(Source(query))
        try:
            token = lexer.advance()
            for _ in range(self.max_tokens + 1):
                if token.kind == TokenKind.EOF:
                    return
                text = token.value or ""  # a string token always carries its value
                if token.kind in (TokenKind.STRING, TokenKind.BLOCK_STRING) and len(text) > self.max_string_length:
                    raise RequestRefused(
                        f"A string literal at line {token.line} has {len(text):,} characters; "
                        f"the limit is {self.max_string_length:,}",
                        code=ErrorCode.INVALID_INPUT,
                    )
                token = lexer.advance()
        except GraphQLSyntaxError:
            return
