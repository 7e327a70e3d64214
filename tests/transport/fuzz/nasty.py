"""Hypothesis strategies for GraphQL value nodes: ordinary values with nasty ones mixed in.

Huge and negative numbers, NaN-like tokens, 1 MB strings, NUL and unassigned code points,
malformed and foreign global ids, and the real ids of the fuzzing user's objects.
"""

from __future__ import annotations

import base64
from typing import Any

import graphql
from hypothesis import strategies as st

MEGABYTE_STRING = "x" * (1 << 20)
NASTY_STRINGS = [
    "",
    " ",
    "\x00",
    "a\x00b",
    "\u0378",
    "\U000e0000",
    "\ufeff",
    "\u202e",
    "é" * 300,
    MEGABYTE_STRING,
    "../../etc/passwd",
    "'; DROP TABLE dataset; --",
    "%s%n",
    "{}",
    "[]",
    "null",
    "NaN",
    "-1",
    "1e999",
    "http://[::1",
    "http://127.0.0.1:99999/",
    f"http://{'a' * 64}.example/",
    "http://169.254.169.254/latest",
    "file:///etc/passwd",
    "2024-01-01T00:00:00",
    "2024-13-45",
    "<script>alert(1)</script>",
    "#zzz",
    "\\",
    '"',
]
NASTY_INTS = [0, -1, 1, 2**31 - 1, -(2**31), 2**31, 2**53 + 1, 10**20, -(10**400)]
NASTY_FLOATS = ["0.0", "-0.0", "1e308", "-1e308", "5e-324", "1e999", "0.5", "NaN", "Infinity"]


def global_id(type_name: str, raw: str) -> str:
    return base64.urlsafe_b64encode(f"{type_name}:{raw}".encode()).decode().rstrip("=")


def malformed_ids(real: list[str]) -> list[str]:
    """Ids a careless or hostile client sends: wrong type names, broken base64, other objects' raw ids."""
    raw = [base64.urlsafe_b64decode(i + "=" * (-len(i) % 4)).decode().split(":", 1)[1] for i in real[:3]]
    return [
        "",
        "x",
        "====",
        "RGF0YXNldDo",
        "RGF0YXNldDo" + "A" * 40,
        global_id("Dataset", ""),
        global_id("", "abc"),
        global_id("Dataset", "\x00"),
        global_id("Dataset", "a" * 10_000),
        global_id("User", "1"),
        "\x00",
        "👾",
    ] + [global_id(kind, r) for r in raw for kind in ("Model", "Job", "Pipeline", "Report", "Nope")]


def _string(value: str) -> graphql.StringValueNode:
    return graphql.StringValueNode(value=value)


def strings() -> st.SearchStrategy[graphql.ValueNode]:
    ordinary = st.text(st.characters(exclude_categories=["Cs"]), max_size=40)  # any code point, NUL included
    return st.one_of(ordinary, st.sampled_from(NASTY_STRINGS)).map(_string)


def ints() -> st.SearchStrategy[graphql.ValueNode]:
    return st.one_of(st.integers(-(2**31), 2**31 - 1), st.integers(-5, 200), st.sampled_from(NASTY_INTS)).map(
        lambda v: graphql.IntValueNode(value=str(v))
    )


def floats() -> st.SearchStrategy[graphql.ValueNode]:
    finite = st.floats(allow_nan=False, allow_infinity=False).map(repr)
    return st.one_of(finite, st.sampled_from(NASTY_FLOATS)).map(lambda v: graphql.FloatValueNode(value=v))


def ids(real: list[str], foreign: list[str]) -> st.SearchStrategy[graphql.ValueNode]:
    return st.one_of(
        st.sampled_from(real), st.sampled_from(real), st.sampled_from(foreign), st.sampled_from(malformed_ids(real))
    ).map(_string)


def _json_node(value: Any) -> graphql.ValueNode:
    if isinstance(value, dict):
        return graphql.ObjectValueNode(
            fields=tuple(
                graphql.ObjectFieldNode(name=graphql.NameNode(value=k), value=_json_node(v)) for k, v in value.items()
            )
        )
    if isinstance(value, list):
        return graphql.ListValueNode(values=tuple(_json_node(v) for v in value))
    if isinstance(value, bool):
        return graphql.BooleanValueNode(value=value)
    if isinstance(value, int):
        return graphql.IntValueNode(value=str(value))
    if isinstance(value, float):
        return graphql.FloatValueNode(value=repr(value))
    if value is None:
        return graphql.NullValueNode()
    return graphql.StringValueNode(value=str(value))


def json_values() -> st.SearchStrategy[graphql.ValueNode]:
    keys = st.from_regex(r"\A[A-Za-z_][A-Za-z0-9_]{0,8}\Z")
    leaves = st.one_of(
        st.none(),
        st.booleans(),
        st.sampled_from(NASTY_INTS),
        st.integers(),
        st.sampled_from(NASTY_STRINGS),
        st.text(max_size=10),
        st.floats(allow_nan=False, allow_infinity=False),
    )
    values = st.recursive(
        leaves,
        lambda children: st.lists(children, max_size=4) | st.dictionaries(keys, children, max_size=4),
        max_leaves=12,
    )
    return values.map(_json_node)


def datetimes() -> st.SearchStrategy[graphql.ValueNode]:
    return st.one_of(
        st.datetimes().map(lambda d: d.isoformat()),
        st.sampled_from(["2024-01-01T00:00:00+00:00", "2024-13-01", "", "0000-00-00", "9999-12-31T23:59:59"]),
    ).map(_string)


def custom_scalars(real: list[str], foreign: list[str]) -> dict[str, st.SearchStrategy[graphql.ValueNode]]:
    return {
        "String": strings(),
        "Int": ints(),
        "Float": floats(),
        "ID": ids(real, foreign),
        "JSON": json_values(),
        "DateTime": datetimes(),
        "Upload": st.just(graphql.NullValueNode()),
    }
