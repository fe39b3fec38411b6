"""The CSV file of an order import: its size, its bytes as text, its text as rows keyed by column.

File-level problems (too large, not UTF-8, UTF-16, binary, tab-separated, a malformed quote, a bad
header) are reported here, each with the row it is on; what a row's cells mean is
dispatch.orders.importing's business.
"""

import codecs
import csv
import io
from dataclasses import dataclass, field

from django.conf import settings
from django.utils.translation import gettext as _

from dispatch.errors import OrderImportError, OrderImportTooLarge

COLUMNS = {
    "reference", "date", "depot", "customer_name", "phone", "email", "address", "latitude", "longitude",
    "window_start", "window_end", "service_minutes", "weight_kg", "volume_l", "items", "skills", "priority",
    "notes", "language",
}  # fmt: skip
COLUMN_ALIASES = {
    "lat": "latitude",
    "lon": "longitude",
    "lng": "longitude",
    "ref": "reference",
    "name": "customer_name",
}


@dataclass
class CsvRow:
    number: int
    values: dict = field(default_factory=dict)


def _file_error(row: int, message: str, value=None) -> OrderImportError:
    # `message` is already in the request's language (gettext where the problem is found).
    return OrderImportError([{"row": row, "field": "file", "value": value, "message": message}])


def _looks_like_utf16(data: bytes) -> bool:
    if data[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
        return True
    # Without a BOM: ASCII text in UTF-16 has a NUL in every other byte.
    sample = data[:4096]
    return len(sample) >= 4 and (sample[1::2].count(0) > len(sample) // 4 or sample[0::2].count(0) > len(sample) // 4)


def decode_csv_bytes(data: bytes) -> str:
    if not data.strip():
        raise _file_error(0, _("the file is empty"))
    if data[:4] in (codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE) or _looks_like_utf16(data):
        # What Excel's "Unicode Text" saves; guessing would risk silently wrong names and addresses.
        raise _file_error(0, _('the file is UTF-16 text; save it as "CSV UTF-8" (comma or semicolon separated)'))
    if b"\x00" in data[:4096]:
        raise _file_error(0, _("the file is binary, not CSV text"))
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise _file_error(
            line,
            _('the file is not UTF-8 text (byte %(byte)s, line %(line)s); save it as "CSV UTF-8"')
            % {"byte": exc.start, "line": line},
        ) from None


def _sniff_delimiter(header_line: str) -> str:
    return ";" if header_line.count(";") > header_line.count(",") else ","


def read_order_rows(text: str) -> tuple[list[CsvRow], list[dict]]:
    """Split CSV text into rows keyed by canonical column names; returns (rows, warnings)."""
    first_line = text.split("\n", 1)[0]
    if not first_line.strip():
        raise OrderImportError([{"row": 1, "field": "header", "value": "", "message": _("the file has no header row")}])
    if "\t" in first_line and "," not in first_line and ";" not in first_line:
        raise _file_error(
            1, _("the file is tab-separated; save it as CSV with commas or semicolons between the columns")
        )
    # strict: an unterminated quote is an error, not a field that silently swallows the rows after it
    reader = csv.reader(io.StringIO(text), delimiter=_sniff_delimiter(first_line), strict=True)
    try:
        header = next(reader)
    except (StopIteration, csv.Error) as exc:
        raise OrderImportError(
            [{"row": 1, "field": "header", "value": "", "message": _("unreadable header: %(error)s") % {"error": exc}}]
        ) from None
    names = [COLUMN_ALIASES.get(h.strip().lower(), h.strip().lower()) for h in header]
    warnings, errors = [], []
    for column in sorted({n for n in names if n not in COLUMNS}):
        warnings.append({"row": 1, "field": column, "value": column, "message": _("unknown column, ignored")})
    duplicates = {n for n in names if n in COLUMNS and names.count(n) > 1}
    for column in sorted(duplicates):
        errors.append({"row": 1, "field": column, "value": column, "message": _("column appears more than once")})
    for required in ("reference", "date"):
        if required not in names:
            message = _("required column %(column)s is missing") % {"column": repr(required)}
            errors.append({"row": 1, "field": required, "value": None, "message": message})
    if errors:
        raise OrderImportError(errors)
    rows = []
    number = 1
    try:
        for number, cells in enumerate(reader, start=2):
            if not any(cell.strip() for cell in cells):
                continue
            if len(cells) > len(names):
                errors.append(
                    {
                        "row": number,
                        "field": "",
                        "value": len(cells),
                        "message": _("%(cells)s cells but %(columns)s columns")
                        % {"cells": len(cells), "columns": len(names)},
                    }
                )
                continue
            rows.append(CsvRow(number, {n: c for n, c in zip(names, cells) if n in COLUMNS}))
    except csv.Error as exc:
        # The record after the last good one (a quoted cell may span lines, so not reader.line_num).
        errors.append(
            {
                "row": number + 1,
                "field": "",
                "value": None,
                "message": _("malformed CSV from this row on: %(error)s") % {"error": exc},
            }
        )
    if errors:
        raise OrderImportError(errors)
    if not rows:
        raise OrderImportError([{"row": 2, "field": "", "value": None, "message": _("the file has no order rows")}])
    return rows, warnings


# Multipart framing around the file: boundaries, part headers, the file name.
MULTIPART_OVERHEAD_BYTES = 64 * 1024


def check_import_size(size: int | None, *, whole_request: bool = False) -> None:
    """Refuse a file over ORDER_IMPORT_MAX_BYTES (413). With whole_request, `size` is the request's
    Content-Length, checked before the body is read so an oversized upload is never spooled to disk."""
    limit = settings.ORDER_IMPORT_MAX_BYTES
    if size is None or size <= limit + (MULTIPART_OVERHEAD_BYTES if whole_request else 0):
        return
    raise OrderImportTooLarge(
        [
            {
                "row": 0,
                "field": "file",
                "value": size,
                "message": (
                    _(
                        "the upload is %(size)s bytes; the limit is %(limit)s bytes (%(mb)s MB): split it into smaller files"
                    )
                    if whole_request
                    else _(
                        "the file is %(size)s bytes; the limit is %(limit)s bytes (%(mb)s MB): split it into smaller files"
                    )
                )
                % {"size": size, "limit": limit, "mb": limit // (1024 * 1024)},
            }
        ]
    )


def declared_length(request) -> int | None:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0) or None
    except ValueError:
        return None
