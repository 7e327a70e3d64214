"""Derived columns from a small, safe expression language, evaluated by DuckDB.

The language is DuckDB's own scalar expression syntax cut down to a whitelist: column names,
literals, arithmetic, comparisons, AND/OR/NOT, IN, BETWEEN, LIKE, IS NULL, CASE, CAST to a plain
type, and the string, number and date functions below. DuckDB's parser does the parsing (its
`json_serialize_sql` returns the syntax tree with positions), so the grammar is the engine's and
no hand-written parser can drift from what runs; every node of the tree is then checked against
the whitelist, so subqueries, aggregates, window functions, lambdas, table functions and anything
that reads files never reach the engine. Nothing is ever passed to Python's `eval`.

Evaluation runs on a connection with file access disabled and no extensions, over the frame only.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import duckdb
import pandas as pd

from services.errors import invalid

MAX_EXPRESSION_LENGTH = 2000
_PREFIX = "SELECT "
_TABLE = "frame"

OPERATORS = {"+", "-", "*", "/", "//", "%", "**", "^", "||", "~~", "!~~", "~~*", "!~~*"}
FUNCTIONS = {
    # numbers
    "abs",
    "round",
    "floor",
    "ceil",
    "ceiling",
    "sqrt",
    "cbrt",
    "exp",
    "ln",
    "log",
    "log2",
    "log10",
    "pow",
    "power",
    "sign",
    "least",
    "greatest",
    "isnan",
    "isinf",
    "isfinite",
    "trunc",
    "mod",
    "even",
    # text
    "lower",
    "upper",
    "length",
    "trim",
    "ltrim",
    "rtrim",
    "substr",
    "substring",
    "replace",
    "concat",
    "concat_ws",
    "contains",
    "starts_with",
    "ends_with",
    "left",
    "right",
    "lpad",
    "rpad",
    "reverse",
    "strpos",
    "instr",
    "regexp_matches",
    "regexp_replace",
    "regexp_extract",
    "split_part",
    "repeat",
    "prefix",
    "suffix",
    # dates
    "year",
    "quarter",
    "month",
    "day",
    "dayofweek",
    "dayofyear",
    "week",
    "hour",
    "minute",
    "second",
    "date_part",
    "date_trunc",
    "date_diff",
    "datediff",
    "date_sub",
    "strftime",
    "strptime",
    "try_strptime",
    "epoch",
    "make_date",
    "last_day",
    "monthname",
    "dayname",
    # nulls and choices
    "ifnull",
    "nullif",
    "coalesce",
    "if",
}
CAST_TYPES = {
    "DOUBLE",
    "FLOAT",
    "REAL",
    "INTEGER",
    "INT",
    "BIGINT",
    "SMALLINT",
    "VARCHAR",
    "TEXT",
    "STRING",
    "BOOLEAN",
    "BOOL",
    "DATE",
    "TIMESTAMP",
    "DECIMAL",
    "NUMERIC",
}
# Node classes a scalar expression may contain; FUNCTION and CAST are checked further below.
NODE_CLASSES = {
    "COLUMN_REF",
    "CONSTANT",
    "FUNCTION",
    "COMPARISON",
    "CONJUNCTION",
    "OPERATOR",
    "BETWEEN",
    "CASE",
    "CAST",
    "TYPE",
}
OPERATOR_TYPES = {
    "OPERATOR_NOT",
    "OPERATOR_IS_NULL",
    "OPERATOR_IS_NOT_NULL",
    "COMPARE_IN",
    "COMPARE_NOT_IN",
    "OPERATOR_COALESCE",
}
# The semantic type a derived column gets from the DuckDB type of its values.
_SEMANTIC_OF = (
    ("BOOLEAN", "BOOLEAN"),
    ("TIMESTAMP", "DATETIME"),
    ("DATE", "DATETIME"),
    ("VARCHAR", "TEXT"),
    ("INT", "NUMERIC"),
    ("DOUBLE", "NUMERIC"),
    ("FLOAT", "NUMERIC"),
    ("DECIMAL", "NUMERIC"),
    ("REAL", "NUMERIC"),
    ("HUGEINT", "NUMERIC"),
)
_DUCK_TYPE_OF = {"NUMERIC": "DOUBLE", "BOOLEAN": "BOOLEAN", "DATETIME": "TIMESTAMP"}  # everything else: VARCHAR


@dataclass(frozen=True)
class Expression:
    text: str
    columns: tuple[str, ...]  # the columns it reads


def parse(text: str, known_columns: list[str], field: list[str]) -> Expression:
    """Check `text` against the whitelist and the known columns; a typed error points at the position."""
    if not isinstance(text, str) or not text.strip():
        raise invalid("The expression is empty", field)
    if len(text) > MAX_EXPRESSION_LENGTH:
        raise invalid(f"The expression is longer than {MAX_EXPRESSION_LENGTH} characters", field)
    with _Sandbox() as connection:
        row = connection.execute("SELECT json_serialize_sql($1)", [f"{_PREFIX}{text} FROM {_TABLE}"]).fetchone()
    assert row is not None  # a SELECT of one value always has its row
    tree = json.loads(row[0])
    if tree.get("error"):
        where = _position(tree.get("position"), text)
        message = str(tree.get("error_message", "syntax error")).replace(f" FROM {_TABLE}", "")
        near = re.search(r'near "([^"]+)"', message)
        if near and near.group(1) in known_columns:  # a column named like an SQL word (when, order, group)
            message += f'; write the column as "{near.group(1)}" (double quotes)'
        raise invalid(f"The expression does not parse{where}: {message}", field)
    statements = tree.get("statements") or []
    node = statements[0].get("node", {}) if len(statements) == 1 else {}
    # Exactly `SELECT <one expression> FROM frame`: a comment, a second statement or a clause smuggled in
    # the text shows up here as a different shape.
    if (
        node.get("type") != "SELECT_NODE"
        or len(node.get("select_list", [])) != 1
        or node.get("where_clause")
        or node.get("group_expressions")
        or node.get("having")
        or node.get("modifiers")
        or node.get("qualify")
        or (node.get("from_table") or {}).get("table_name") != _TABLE
        or (node.get("cte_map") or {}).get("map")
    ):
        raise invalid("The expression must be a single value: no FROM, WHERE, statements or comments", field)
    columns: list[str] = []
    _check(node["select_list"][0], text, set(known_columns), columns, field)
    return Expression(text, tuple(dict.fromkeys(columns)))


def result_type(expression: Expression, types: dict[str, str], field: list[str]) -> str:
    """The semantic type of the derived column, from DuckDB's binding over an empty table of `types`
    (semantic types by column); a type mismatch DuckDB finds while binding is a typed error."""
    with _Sandbox() as connection:
        columns = ", ".join(
            f"{_quote(name)} {_DUCK_TYPE_OF.get(semantic, 'VARCHAR')}" for name, semantic in types.items()
        )
        connection.execute(f"CREATE TABLE {_TABLE} ({columns})" if columns else f"CREATE TABLE {_TABLE} (_ INTEGER)")
        try:
            duck_type = connection.execute(f"DESCRIBE {_PREFIX}{expression.text} FROM {_TABLE}").fetchall()[0][1]
        except duckdb.Error as exc:
            raise invalid(f"The expression cannot be computed: {_plain_error(exc)}", field) from exc
    return next((semantic for prefix, semantic in _SEMANTIC_OF if str(duck_type).upper().startswith(prefix)), "TEXT")


def evaluate(expression: Expression, frame: pd.DataFrame) -> pd.Series:
    """The derived values, one per row of `frame`, in its order."""
    with _Sandbox() as connection:
        connection.register(_TABLE, frame[list(expression.columns)] if expression.columns else frame.iloc[:, :0])
        try:
            values = connection.execute(f"{_PREFIX}{expression.text} FROM {_TABLE}").fetch_df().iloc[:, 0]
        except duckdb.Error as exc:
            raise invalid(f"The expression failed on the data: {_plain_error(exc)}") from exc
    values.index = frame.index
    return values


def _check(node: Any, text: str, known: set[str], columns: list[str], field: list[str]) -> None:
    if isinstance(node, list):
        for item in node:
            _check(item, text, known, columns, field)
        return
    if not isinstance(node, dict):
        return
    kind = node.get("class")
    if kind is not None:
        where = _position(node.get("query_location"), text)
        if kind not in NODE_CLASSES:
            raise invalid(f"{kind.replace('_', ' ').lower()} is not allowed in an expression{where}", field)
        if kind == "COLUMN_REF":
            names = node.get("column_names") or []
            if len(names) != 1 or names[0] not in known:
                raise invalid(f"Unknown column {'.'.join(names)!r}{where}", field)
            columns.append(names[0])
        elif kind == "FUNCTION":
            name = str(node.get("function_name", "")).lower()
            allowed = name in OPERATORS if node.get("is_operator") else name in FUNCTIONS
            if (
                not allowed
                or node.get("schema")
                or node.get("catalog")
                or node.get("distinct")
                or node.get("filter")
                or (node.get("order_bys") or {}).get("orders")
            ):
                raise invalid(f"The function {name!r} is not allowed{where}", field)
        elif kind == "OPERATOR" and node.get("type") not in OPERATOR_TYPES:
            raise invalid(f"The operator {node.get('type')} is not allowed{where}", field)
        elif kind == "TYPE" and (str(node.get("type_name", "")).upper() not in CAST_TYPES or node.get("children")):
            raise invalid(f"Casting to {node.get('type_name')} is not allowed{where}", field)
    for key, value in node.items():
        if key not in ("literal", "alias"):
            _check(value, text, known, columns, field)


def _position(location: Any, text: str) -> str:
    """' at position N (near "…")', counted in the user's text, 1-based."""
    try:
        offset = int(location) - len(_PREFIX)
    except (TypeError, ValueError):
        return ""
    if not 0 <= offset <= len(text):
        return ""
    return f" at position {offset + 1} (near {text[offset : offset + 12]!r})"


def _plain_error(exc: Exception) -> str:
    """DuckDB's message without its echo of the generated query."""
    message = str(exc).split("\n\nLINE", 1)[0]
    return re.sub(r"^[A-Za-z ]+ Error: ", "", message).strip()


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class _Sandbox:
    """A throwaway DuckDB with no file access and no extensions: expressions touch the frame and nothing else."""

    def __enter__(self) -> duckdb.DuckDBPyConnection:
        self.connection = duckdb.connect(
            config={
                "enable_external_access": False,
                "autoload_known_extensions": False,
                "autoinstall_known_extensions": False,
                "threads": 1,
            }
        )
        return self.connection

    def __exit__(self, *exc: object) -> None:
        self.connection.close()
