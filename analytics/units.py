"""Figures in the units people read: durations as h:mm, distances in km, money in the company's currency.

The database, the API and the CSV export keep machine units (seconds, metres, plain decimals); only
what a person reads goes through here: the analytics page, its charts and the daily e-mail.
`None` (nothing counted) is a dash everywhere.

Numbers follow the active language (the page's, or the e-mail's): its decimal separator ("2.2 km",
"2,2 km"), with thousands grouped by a thin space in both languages, which reads the same in either.
"""

from django.conf import settings
from django.utils import numberformat
from django.utils.formats import get_format
from django.utils.translation import gettext

DASH = "–"
MINUS = "−"  # U+2212: a minus sign as wide as the plus, so changes line up
THIN_SPACE = "\u202f"  # groups thousands without a comma that reads as a decimal point in German


def _grouped(number: int) -> str:
    return f"{number:,}".replace(",", THIN_SPACE)


def _localized(fixed: str) -> str:
    """A non-negative number already rounded to its decimals ("1234.50") in the active language:
    Django's number formatting with the language's decimal separator and thin-space groups.
    (Rounded before: numberformat cuts decimals off instead of rounding them.)"""
    return numberformat.format(
        fixed, get_format("DECIMAL_SEPARATOR"), grouping=3, thousand_sep=THIN_SPACE, force_grouping=True
    )


def _sign(negative: bool, shown_nonzero, signed: bool) -> str:
    """No sign on a figure that reads as zero; '+' only where a change is asked for."""
    if not shown_nonzero:
        return ""
    if negative:
        return MINUS
    return "+" if signed else ""


def duration_hm(seconds, *, signed: bool = False) -> str:
    """Seconds as hours:minutes ("0:00 h", "1:05 h", "2 563:26 h"): hours do not wrap at 24."""
    if seconds is None:
        return DASH
    total_minutes = int(abs(float(seconds)) / 60 + 0.5)  # half a minute up, as people round
    hours, minutes = divmod(total_minutes, 60)
    return f"{_sign(seconds < 0, total_minutes != 0, signed)}{_grouped(hours)}:{minutes:02d} h"


def distance_km(metres, *, signed: bool = False) -> str:
    """Metres as kilometres: one decimal below 100 km, whole kilometres above."""
    if metres is None:
        return DASH
    km = abs(float(metres)) / 1000
    fixed = str(round(km)) if km >= 100 else f"{km:.1f}"
    return f"{_sign(metres < 0, fixed.strip('0.') != '', signed)}{_localized(fixed)} km"


def money(amount, *, signed: bool = False) -> str:
    """An amount in the configured currency (settings.CURRENCY), two decimals: "CHF 1 234.50",
    in German "CHF 1 234,50"."""
    if amount is None:
        return DASH
    value = abs(float(amount))
    whole, cents = divmod(int(value * 100 + 0.5), 100)
    return f"{_sign(amount < 0, whole or cents, signed)}{settings.CURRENCY} {_localized(f'{whole}.{cents:02d}')}"


def percent(rate, *, signed: bool = False) -> str:
    """A rate 0..1 as a percentage; a change of rates in percentage points."""
    if rate is None:
        return DASH
    fixed = f"{abs(rate) * 100:.1f}"
    if signed:
        # A change of rates, in percentage points ("+12.3 pts", "+12,3 Pp.").
        sign = (MINUS if rate < 0 else "+") if fixed.strip("0.") else "+"
        return gettext("%(value)s pts") % {"value": sign + _localized(fixed)}
    return f"{MINUS if rate < 0 and fixed.strip('0.') else ''}{_localized(fixed)} %"


def decimal(value, *, signed: bool = False) -> str:
    if value is None:
        return DASH
    fixed = f"{abs(value):.2f}"
    negative = value < 0 and fixed.strip("0.") != ""
    sign = MINUS if negative else ("+" if signed else "")
    return f"{sign}{_localized(fixed)}"


def count(value, *, signed: bool = False) -> str:
    if value is None:
        return DASH
    if signed:
        return (MINUS if value < 0 else "+") + _grouped(abs(int(value)))
    return _grouped(int(value))


FORMATS = {
    "duration": duration_hm,
    "km": distance_km,
    "money": money,
    "pct": percent,
    "dec": decimal,
    "int": count,
}


def human(value, kind: str, *, signed: bool = False) -> str:
    """Format `value` as `kind` (a key of FORMATS)."""
    try:
        formatter = FORMATS[kind]
    except KeyError:
        raise ValueError(f"unknown figure kind {kind!r}; one of {', '.join(FORMATS)}") from None
    return formatter(value, signed=signed)
