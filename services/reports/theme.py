"""Report themes: only valid CSS colours, a safe font-family list and an http(s) logo URL get through."""

from __future__ import annotations

import colorsys
import re
from typing import Any

from services.errors import ServiceError, invalid
from services.urls import check_web_url

NUMBER = r"\s*([+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))(%|deg)?\s*"
FUNCTION = re.compile(rf"^(rgba?|hsla?)\({NUMBER},{NUMBER},{NUMBER}(?:,{NUMBER})?\)$")
HEX = re.compile(r"^#(?:[0-9a-f]{3,4}|[0-9a-f]{6}|[0-9a-f]{8})$")
FONT_FAMILY = re.compile(r"""^[A-Za-z0-9 ,'"\-]{1,200}$""")
COLOUR_FIELDS = ("primary", "accent", "background", "text", "surface", "muted", "ok", "warn", "error")
SETTINGS = {
    "primary": "ASSAY_REPORT_PRIMARY",
    "accent": "ASSAY_REPORT_ACCENT",
    "background": "ASSAY_REPORT_BACKGROUND",
    "text": "ASSAY_REPORT_TEXT",
    "font_family": "ASSAY_REPORT_FONT_FAMILY",
    "surface": "ASSAY_REPORT_SURFACE",
    "muted": "ASSAY_REPORT_MUTED",
    "ok": "ASSAY_REPORT_OK",
    "warn": "ASSAY_REPORT_WARN",
    "error": "ASSAY_REPORT_ERROR",
    "logo_url": "ASSAY_REPORT_LOGO_URL",
}
GIVEN_NAMES = {"font_family": "fontFamily", "logo_url": "logoUrl"}


def _named_colours() -> dict[str, str]:
    from matplotlib.colors import CSS4_COLORS  # the 148 CSS named colours, as #rrggbb

    return {name.lower(): str(value).lower() for name, value in CSS4_COLORS.items()} | {"transparent": "#00000000"}


def _channel(number: str, unit: str | None, *, most: float) -> float | None:
    """A 0-1 fraction from a number (0..most) or a percentage (0..100%); None when out of range."""
    value = float(number)
    if unit == "deg":
        return None
    fraction = value / 100 if unit == "%" else value / most
    return fraction if 0 <= fraction <= 1 else None


def _hex(red: float, green: float, blue: float, alpha: float) -> str:
    digits = "".join(f"{round(part * 255):02x}" for part in (red, green, blue))
    return f"#{digits}" if alpha == 1 else f"#{digits}{round(alpha * 255):02x}"


def css_colour(value: str) -> str | None:
    """`value` as #rrggbb (or #rrggbbaa), or None when it is not a CSS colour with every part in range.
    One spelling for both readers: the report's CSS and matplotlib, which reads neither rgb() nor hsl()."""
    text = value.strip().lower()
    if len(text) > 100:
        return None
    if HEX.match(text):
        digits = text[1:] if len(text) > 5 else "".join(ch * 2 for ch in text[1:])
        return "#" + ((digits[6:] == "ff" and digits[:6]) or digits)
    named = _named_colours().get(text) if text.isalpha() else None
    if named:
        return named
    found = FUNCTION.match(text)
    if not found:
        return None
    kind, parts = found.group(1), found.groups()[1:]  # rgb/rgba and hsl/hsla are aliases (CSS Color 4)
    numbers = [(parts[i], parts[i + 1]) for i in range(0, 8, 2) if parts[i] is not None]
    alpha = _channel(*numbers[3], most=1) if len(numbers) == 4 else 1.0
    if kind.startswith("rgb"):
        units = {unit for _, unit in numbers[:3]}
        if len(units) > 1:  # CSS: all three numbers or all three percentages
            return None
        channels = [_channel(n, u, most=255) for n, u in numbers[:3]]
    else:
        (hue, hue_unit), saturation, lightness = numbers[:3]
        if hue_unit == "%" or saturation[1] != "%" or lightness[1] != "%" or not 0 <= float(hue) <= 360:
            return None
        s, light = _channel(*saturation, most=100), _channel(*lightness, most=100)
        channels = (
            list(colorsys.hls_to_rgb(float(hue) / 360, light, s)) if s is not None and light is not None else [None]
        )
    known = [c for c in channels if c is not None]
    if alpha is None or len(known) != 3:
        return None
    red, green, blue = known
    return _hex(red, green, blue, alpha)


def is_css_colour(value: str) -> bool:
    return css_colour(value) is not None


def checked_theme(values: dict[str, Any], field: list[str]) -> dict[str, str]:
    """The theme values given (None: not given), each checked and in its canonical form; the first bad one
    is INVALID_INPUT naming its field. The one check for a request's theme and for the ASSAY_REPORT_* settings."""
    theme: dict[str, str] = {}
    for key, value in values.items():
        if value is None:
            continue
        where = [*field, GIVEN_NAMES.get(key, key)]
        if key in COLOUR_FIELDS:
            colour = css_colour(value)
            if colour is None:
                raise invalid(
                    f"{value[:100]!r} is not a CSS colour: use #hex, a colour name, rgb(0-255, 0-255, 0-255), "
                    "rgba(…, alpha 0-1) or hsl(0-360, 0-100%, 0-100%)",
                    where,
                )
            theme[key] = colour
            continue
        if key == "font_family" and (not FONT_FAMILY.match(value) or value.count('"') % 2 or value.count("'") % 2):
            raise invalid("The font family may hold names, spaces, commas, hyphens and balanced quotes only", where)
        if key == "logo_url":
            check_web_url(value, where, "logo URL")
        theme[key] = value.strip()
    return theme


def check_theme_settings(settings: dict[str, str]) -> dict[str, str]:
    """The ASSAY_REPORT_* defaults, checked like a request's theme; the error names the variable."""
    try:
        return checked_theme(settings, [])
    except ServiceError as exc:
        named = exc.field[-1] if exc.field else ""  # checked_theme always names the field
        key = next((k for k, v in GIVEN_NAMES.items() if v == named), named)
        raise ValueError(f"{SETTINGS.get(key, key)}: {exc.message}") from exc


def resolve_theme(requested: dict[str, Any] | None, defaults: dict[str, str], field: list[str]) -> dict[str, str]:
    """Defaults overlaid with what was asked for, every value checked; INVALID_INPUT names the bad one."""
    return {**checked_theme(defaults, field), **checked_theme(requested or {}, field)}
