"""Figures in the units people read: durations as h:mm, distances in km, money in the company's currency.

The database, the API and the CSV export keep machine units (seconds, metres, plain decimals); only
what a person reads goes through here: the analytics page, its charts and the daily e-mail.
`None` (nothing counted) is a dash everywhere.
"""

from django.conf import settings

DASH = "–"
MINUS = "−"  # U+2212: a minus sign as wide as the plus, so changes line up
THIN_SPACE = "\u202f"  # groups thousands without a comma that reads as a decimal point in German


def _grouped(number: int) -> str:
    return f"{number:,}".replace(",", THIN_SPACE)


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
    text = _grouped(round(km)) if km >= 100 else f"{km:.1f}"
    return f"{_sign(metres < 0, text.strip('0.') != '', signed)}{text} km"


def money(amount, *, signed: bool = False) -> str:
    """An amount in the configured currency (settings.CURRENCY), two decimals: "CHF 1 234.50"."""
    if amount is None:
        return DASH
    value = abs(float(amount))
    whole, cents = divmod(int(value * 100 + 0.5), 100)
    return f"{_sign(amount < 0, whole or cents, signed)}{settings.CURRENCY} {_grouped(whole)}.{cents:02d}"


def percent(rate, *, signed: bool = False) -> str:
    """A rate 0..1 as a percentage; a change of rates in percentage points."""
    if rate is None:
        return DASH
    if signed:
        return f"{rate * 100:+.1f} pts".replace("-", MINUS)
    return f"{rate * 100:.1f} %"


def decimal(value, *, signed: bool = False) -> str:
    if value is None:
        return DASH
    return f"{value:+.2f}".replace("-", MINUS) if signed else f"{value:.2f}"


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
