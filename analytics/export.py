"""The CSV export, streamed page by page so a year of orders never sits in memory.

Rows are read in keyset pages (id > last id) rather than through one server-side cursor: no
transaction stays open while a slow client downloads. Under ASGI (daphne) the body is an async
generator whose pages are read in a worker thread; under WSGI and the test client, a plain one.
"""

import csv
import io

from asgiref.sync import sync_to_async
from django.utils import timezone

from analytics.filters import KpiFilters
from analytics.selectors import EXPORT_COLUMNS, export_rows
from dispatch.models import Driver

PAGE_ROWS = 2000


def _format(value) -> str:
    if value is None:
        return ""
    if hasattr(value, "tzinfo") and hasattr(value, "hour"):
        return timezone.localtime(value).isoformat()
    if isinstance(value, bool):
        return "yes" if value else "no"
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


class _Encoder:
    def __init__(self):
        self.buffer = io.StringIO()
        self.writer = csv.writer(self.buffer)
        self.driver_names: dict[int, str] = {}

    def encode(self, rows) -> str:
        self.buffer.seek(0)
        self.buffer.truncate()
        for row in rows:
            values = list(row[1:])
            driver_id = values[5]
            values[5] = self.driver_names.get(driver_id, "") if driver_id else ""
            self.writer.writerow([_format(v) for v in values])
        return self.buffer.getvalue()

    def header(self) -> str:
        self.buffer.seek(0)
        self.buffer.truncate()
        self.writer.writerow(EXPORT_COLUMNS)
        return self.buffer.getvalue()


def _driver_names() -> dict[int, str]:
    return dict(Driver.objects.values_list("id", "name"))


def csv_chunks(filters: KpiFilters):
    encoder = _Encoder()
    encoder.driver_names = _driver_names()
    yield encoder.header()
    after_id = 0
    while True:
        rows = export_rows(filters, after_id=after_id, limit=PAGE_ROWS)
        if not rows:
            return
        yield encoder.encode(rows)
        after_id = rows[-1][0]


async def csv_chunks_async(filters: KpiFilters):
    encoder = _Encoder()
    encoder.driver_names = await sync_to_async(_driver_names)()
    yield encoder.header()
    after_id = 0
    while True:
        rows = await sync_to_async(export_rows)(filters, after_id=after_id, limit=PAGE_ROWS)
        if not rows:
            return
        yield encoder.encode(rows)
        after_id = rows[-1][0]
