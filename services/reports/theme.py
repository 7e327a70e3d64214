"""Report themes: only valid CSS colours, a safe font-family list and an http(s) logo URL get through."""
from __future__ import annotations

import re
from typing import Any

from services.errors import invalid
from services.urls import check_web_url

HEX = re.compile(r"^#(?:[0-9a-fA-F]{3,4}|[0-9a-fA-F]{6}|[0-9a-fA-F]{8})$")
FUNCTION = re.compile(r"^(?:rgb|rgba|hsl|hsla)\(\s*[0-9.]+%?\s*(?:,\s*[0-9.]+%?\s*){2}(?:,\s*[0-9.]+%?\s*)?\)$")
FONT_FAMILY = re.compile(r"""^[A-Za-z0-9 ,'"\-]{1,200}$""")
COLOUR_FIELDS = ("primary", "accent", "background", "text")


def _named_colours() -> set[str]:
    from matplotlib.colors import CSS4_COLORS  # the 148 CSS named colours
    return {name.lower() for name in CSS4_COLORS} | {"transparent"}


def is_css_colour(value: str) -> bool:
    value = value.strip()
    return bool(HEX.match(value) or FUNCTION.match(value.lower()) or value.lower() in _named_colours())


def resolve_theme(requested: dict[str, Any] | None, defaults: dict[str, str], field: list[str]) -> dict[str, str]:
    """Defaults overlaid with what was asked for, every value checked; INVALID_INPUT names the bad one."""
    theme = dict(defaults)
    for key, value in (requested or {}).items():
        if value is None:
            continue
        if key in COLOUR_FIELDS and not is_css_colour(value):
            raise invalid(f"{value!r} is not a CSS colour (use #hex, rgb(), hsl() or a colour name)", field + [key])
        if key == "font_family" and (not FONT_FAMILY.match(value) or value.count('"') % 2 or value.count("'") % 2):
            raise invalid("The font family may hold names, spaces, commas, hyphens and balanced quotes only",
                          field + ["fontFamily"])
        if key == "logo_url":
            check_web_url(value, field + ["logoUrl"], "logo URL")
        theme[key] = value.strip()
    return theme
