"""Time-of-day traffic: speed factors per road class and hour.

A factor multiplies the free-flow speed: 0.6 means that road class drives at
60 % of its free-flow speed in that hour (so its arcs take 1/0.6 as long).
Factors are per *local* hour of the departure datetime the caller passes (we do
no timezone conversion: give departures in the delivery region's local time).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

import numpy as np

from .profiles import ROAD_CLASSES

HourlyFactors = Mapping[str, Sequence[float]]

ARTERIAL_CLASSES = (
    "motorway",
    "motorway_link",
    "trunk",
    "trunk_link",
    "primary",
    "primary_link",
    "secondary",
    "secondary_link",
    "tertiary",
    "tertiary_link",
)
LOCAL_CLASSES = ("unclassified", "residential", "living_street", "service", "road")

# A generic European weekday: morning peak 7-9 h, evening peak 17-19 h, slower
# daytime. Arterials carry the congestion; local streets feel half of it.
_WEEKDAY_ARTERIAL = [
    1.0, 1.0, 1.0, 1.0, 1.0, 0.95,  # 00-05 h
    0.85, 0.65, 0.6, 0.75, 0.85, 0.85,  # 06-11 h
    0.8, 0.85, 0.85, 0.8, 0.75, 0.6,  # 12-17 h
    0.6, 0.75, 0.9, 0.95, 1.0, 1.0,  # 18-23 h
]  # fmt: skip
_WEEKEND_ARTERIAL = [1.0] * 10 + [0.9] * 10 + [1.0] * 4


def _milder(factors: Sequence[float]) -> list[float]:
    return [1.0 - (1.0 - f) / 2 for f in factors]


def default_weekday_factors() -> dict[str, list[float]]:
    factors = {name: list(_WEEKDAY_ARTERIAL) for name in ARTERIAL_CLASSES}
    factors.update({name: _milder(_WEEKDAY_ARTERIAL) for name in LOCAL_CLASSES})
    return factors


def default_weekend_factors() -> dict[str, list[float]]:
    factors = {name: list(_WEEKEND_ARTERIAL) for name in ARTERIAL_CLASSES}
    factors.update({name: _milder(_WEEKEND_ARTERIAL) for name in LOCAL_CLASSES})
    return factors


def day_type(moment: datetime) -> int:
    """A learned travel model's day type of a local moment: 0 Monday-Friday, 1 Saturday, 2 Sunday."""
    return max(0, moment.weekday() - 4)


class TrafficProfile:
    """Hourly speed factors for weekdays (Mon-Fri) and weekends, per road class.

    Classes not named keep factor 1.0. ``TrafficProfile.none()`` is free flow.
    """

    def __init__(self, weekday: HourlyFactors | None = None, weekend: HourlyFactors | None = None):
        self._tables = {
            "weekday": self._table(weekday or {}),
            "weekend": self._table(weekend if weekend is not None else weekday or {}),
        }

    @classmethod
    def default_car(cls) -> TrafficProfile:
        return cls(default_weekday_factors(), default_weekend_factors())

    @classmethod
    def none(cls) -> TrafficProfile:
        return cls({}, {})

    @staticmethod
    def _table(factors: HourlyFactors) -> np.ndarray:
        table = np.ones((24, len(ROAD_CLASSES)))
        for name, hourly in factors.items():
            if name not in ROAD_CLASSES:
                raise ValueError(f"unknown road class {name!r}; expected one of {ROAD_CLASSES}")
            hourly = np.asarray(hourly, dtype=float)
            if hourly.shape != (24,) or np.any(hourly <= 0) or np.any(hourly > 2):
                raise ValueError(f"{name}: need 24 hourly factors in (0, 2], got {hourly!r}")
            table[:, ROAD_CLASSES.index(name)] = hourly
        return table

    def slot(self, departure: datetime | None) -> tuple[str, int] | None:
        """The cache key of the hour a departure falls in; None means free flow."""
        if departure is None:
            return None
        day = "weekend" if departure.weekday() >= 5 else "weekday"
        if np.all(self._tables[day][departure.hour] == 1.0):
            return None  # share the free-flow metric instead of a duplicate
        return day, departure.hour

    def class_factors(self, slot: tuple[str, int] | None) -> np.ndarray:
        """Speed factor per road-class code for a slot (all ones for free flow)."""
        if slot is None:
            return np.ones(len(ROAD_CLASSES))
        day, hour = slot
        return self._tables[day][hour]
