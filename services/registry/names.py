"""Registered names, aliases and the references that serve by them: `churn@champion`, `churn/3`.

Names and aliases exclude `@` and `/`, and an alias starts with a letter, so a reference reads one way only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from services.errors import invalid

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")
ALIAS = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,63}")
MAX_TAGS, MAX_TAG, MAX_TEXT = 20, 64, 2000


@dataclass(frozen=True)
class ModelReference:
    name: str
    alias: str | None = None
    version: int | None = None

    def __str__(self) -> str:
        return f"{self.name}@{self.alias}" if self.alias else f"{self.name}/{self.version}"


def parse_reference(text: str) -> ModelReference | None:
    """`name@alias` or `name/version`, else None (the caller decides whether it was an id instead)."""
    if "@" in text:
        name, _, alias = text.partition("@")
        return ModelReference(name, alias=alias) if NAME.fullmatch(name) and ALIAS.fullmatch(alias) else None
    name, slash, number = text.partition("/")
    if (
        slash
        and NAME.fullmatch(name)
        and number.isascii()
        and number.isdigit()
        and len(number) <= 9
        and int(number) > 0
    ):
        return ModelReference(name, version=int(number))
    return None


def check_name(name: str, field: list[str]) -> str:
    if not NAME.fullmatch(name or ""):
        raise invalid(
            "A registered name is 1-100 letters, digits, '_', '-' or '.', starting with a letter or digit", field
        )
    return name


def check_alias(alias: str, field: list[str]) -> str:
    if not ALIAS.fullmatch(alias or ""):
        raise invalid("An alias is 1-64 letters, digits, '_' or '-', starting with a letter", field)
    return alias


def check_version(version: int, field: list[str]) -> int:
    if version < 1:
        raise invalid("Versions are numbered from 1", field)
    return version


def check_text(text: str | None, field: list[str]) -> str | None:
    if text is not None and len(text) > MAX_TEXT:
        raise invalid(f"At most {MAX_TEXT} characters", field)
    return text


def check_tags(tags: list[str] | None, field: list[str]) -> list[str] | None:
    if tags is None:
        return None
    if len(tags) > MAX_TAGS or any(not tag.strip() or len(tag) > MAX_TAG for tag in tags):
        raise invalid(f"At most {MAX_TAGS} tags, each 1-{MAX_TAG} characters", field)
    return list(dict.fromkeys(tag.strip() for tag in tags))
