"""The filters every KPI query takes: a date range and, optionally, depots, a zone, a driver, a vehicle kind."""

from dataclasses import dataclass, replace
from datetime import date, timedelta


@dataclass(frozen=True)
class KpiFilters:
    date_from: date
    date_to: date
    depot_ids: frozenset[int] | None = None  # None: every depot (managers)
    zone_id: int | None = None
    driver_id: int | None = None
    vehicle_kind: str | None = None

    @property
    def days(self) -> int:
        return (self.date_to - self.date_from).days + 1

    def previous(self) -> "KpiFilters":
        """The same number of days just before."""
        return replace(
            self, date_from=self.date_from - timedelta(days=self.days), date_to=self.date_from - timedelta(days=1)
        )
