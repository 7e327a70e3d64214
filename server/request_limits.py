"""What a GraphQL request may carry, checked on the raw bytes before any parser sees them.

Python's JSON parser recurses once per nesting level and turns any digit run into an int, so a body
nested 100,000 deep or a 5,000-digit number ends in RecursionError or ValueError inside Strawberry
(a plain-text 500). Here nesting and number length are measured on the bytes, with strings blanked
out first, and every refusal is a `RequestRefused` the view answers with a 400 JSON GraphQL error.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import numpy as np
from graphql import GraphQLSyntaxError, Source, TokenKind
from graphql.language.lexer import Lexer

# A JSON string: the unrolled form keeps the regex linear on long strings.
JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')
BRACKET_STEP = np.zeros(256, dtype=np.int8)
BRACKET_STEP[[ord("["), ord("{")]] = 1
BRACKET_STEP[[ord("]"), ord("}")]] = -1
LONE_SURROGATE = re.compile("[\ud800-\udfff]")


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
    def from_settings(cls, settings: Any) -> "RequestLimits":
        return cls(max_body_bytes=int(settings.max_request_mb * 1024 * 1024), max_depth=settings.max_json_depth,
                   max_number_length=settings.max_number_length, max_string_length=settings.max_string_length,
                   max_tokens=settings.max_tokens)

    def decode(self, body: bytes | str, *, what: str = "The request body") -> Any:
        """Parse JSON bytes within the limits; anything malformed or over a limit raises RequestRefused."""
        raw = body.encode("utf-8", "surrogatepass") if isinstance(body, str) else body
        if len(raw) > self.max_body_bytes:
            raise RequestRefused(f"{what} is larger than {self.max_body_bytes:,} bytes", code="PAYLOAD_TOO_LARGE",
                                 status=413)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise RequestRefused(f"{what} is not UTF-8 (byte {exc.start})") from None
        skeleton = JSON_STRING.sub(b'""', raw)
        depth = self._depth(skeleton)
        if depth > self.max_depth:
            raise RequestRefused(f"{what} nests deeper than {self.max_depth} levels")
        if re.search(rb"[-+.eE0-9]{%d,}" % (self.max_number_length + 1), skeleton):
            raise RequestRefused(f"{what} holds a number longer than {self.max_number_length} characters")
        try:
            return json.loads(text)
        except ValueError as exc:  # JSONDecodeError, and ValueError for numbers Python will not convert
            raise RequestRefused(f"{what} is not valid JSON: {exc}") from None

    @staticmethod
    def _depth(skeleton: bytes) -> int:
        if not skeleton:
            return 0
        steps = BRACKET_STEP[np.frombuffer(skeleton, dtype=np.uint8)].astype(np.int32)
        return int(np.cumsum(steps).max(initial=0))

    def check_operation(self, query: object, variables: object, extensions: object, operation_name: object) -> None:
        """The shape the GraphQL-over-HTTP spec requires, and the string limit on every value a client sends."""
        for name, value, kinds in (("query", query, (str,)), ("operationName", operation_name, (str,)),
                                   ("variables", variables, (dict,)), ("extensions", extensions, (dict,))):
            if value is not None and not isinstance(value, kinds):
                wanted = "a string" if kinds == (str,) else "an object"
                raise RequestRefused(f"The request's `{name}` must be {wanted} or null, not {type(value).__name__}")
        self._check_strings(variables, "variables")
        self._check_strings(extensions, "extensions")
        if isinstance(query, str):
            self._check_literals(query)

    def _check_strings(self, value: object, where: str) -> None:
        if isinstance(value, str):
            if len(value) > self.max_string_length:
                raise RequestRefused(f"`{where}` is a string of {len(value):,} characters; the limit is "
                                     f"{self.max_string_length:,}", code="INVALID_INPUT")
            if LONE_SURROGATE.search(value):
                raise RequestRefused(f"`{where}` holds an unpaired UTF-16 surrogate, which is not text",
                                     code="INVALID_INPUT")
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
                if token.kind in (TokenKind.STRING, TokenKind.BLOCK_STRING) and len(token.value) > self.max_string_length:
                    raise RequestRefused(f"A string literal at line {token.line} has {len(token.value):,} characters; "
                                         f"the limit is {self.max_string_length:,}", code="INVALID_INPUT")
                token = lexer.advance()
        except GraphQLSyntaxError:
            return
