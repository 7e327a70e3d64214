"""The one rule for names users give what they make (datasets, versions, models, pipelines, sinks, scraped
fields), so no mutation keeps a name another one would refuse. See docs/conventions.md."""

from __future__ import annotations

import unicodedata
from typing import overload

from services.errors import invalid

MAX_NAME = 255


def name_problem(name: str) -> str | None:
    """Why `name` cannot be kept as given, or None. Surrounding spaces are trimmed, not refused."""
    kept = name.strip()
    if not kept:
        return "The name cannot be blank"
    if len(kept) > MAX_NAME:
        return f"The name must be at most {MAX_NAME} characters (it has {len(kept):,})"
    if any(
        unicodedata.category(ch) == "Cc" for ch in kept
    ):  # NUL, tabs, line breaks: unseen in a list, refused by PostgreSQL
        return "The name cannot hold control characters (line breaks, tabs, NUL)"
    return None


@overload
def given_name(name: str, *, field: list[str]) -> str: ...
@overload
def given_name(name: str | None, *, field: list[str]) -> str | None: ...
def given_name(name: str | None, *, field: list[str]) -> str | None:
    """A name the caller gave, trimmed; None when they gave none (the caller then derives one with
    `derived_name`). Anything `name_problem` finds is INVALID_INPUT on `field`, never silently cut."""
    if name is None:
        return None
    problem = name_problem(name)
    if problem:
        raise invalid(problem, field)
    return name.strip()


def derived_name(text: str) -> str:
    """A name we make up from others (a file name, "<dataset> → <target>"): cut to fit, since the caller
    did not choose its length."""
    return " ".join(text.split())[:MAX_NAME].strip() or "unnamed"
