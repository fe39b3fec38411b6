"""Streamed downloads arrive whole when decoded as a browser decodes them: one gzip member.

Chromium (like every browser) inflates the first gzip member of a response and stops; curl and
Python's gzip module read every member. So these tests decode with zlib's decompressobj, which
stops at the end of the first member and keeps what follows in `unused_data`: nothing may follow.
Under ASGI (daphne in production) the export streams from an async generator, which Django 5.2's
GZipMiddleware compressed as one member per chunk (config/compression.py).
"""

import csv
import io
import zlib

import pytest
from asgiref.sync import async_to_sync
from django.http import StreamingHttpResponse
from django.test import AsyncClient, Client, RequestFactory

from analytics import export
from config.compression import GZipMiddleware
from dispatch.models import Order
from tests.analytics.conftest import DAY, make_order

pytestmark = [pytest.mark.django_db, pytest.mark.clock]

EXPORT = f"/api/analytics/export.csv?from={DAY}&to={DAY}"


def browser_decode(body: bytes) -> bytes:
    """Inflate the first gzip member only, as Chromium does; fail if anything follows it."""
    decoder = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    text = decoder.decompress(body)
    assert decoder.eof, "the gzip stream never ended"
    assert decoder.unused_data == b"", (
        f"{len(decoder.unused_data)} bytes after the first gzip member: a browser drops them"
    )
    return text


def _rows(text: bytes) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text.decode())))


@pytest.fixture
def many_orders(depot_a, monkeypatch):
    # Pages of 7 rows: 50 orders make 8 pages, 9 chunks with the header.
    monkeypatch.setattr(export, "PAGE_ROWS", 7)
    for n in range(50):
        make_order(depot_a, f"D{n:03d}")
    return Order.objects.filter(date=DAY).count()


def test_it_sends_the_asgi_export_as_one_gzip_member(many_orders, manager):
    async def download():
        client = AsyncClient()
        await client.aforce_login(manager)
        response = await client.get(EXPORT, headers={"Accept-Encoding": "gzip, deflate, br"})
        assert response.status_code == 200
        assert response.is_async
        assert response["Content-Encoding"] == "gzip"
        return [chunk async for chunk in response.streaming_content]

    chunks = async_to_sync(download)()
    assert len(chunks) > 3  # still streamed page by page, not gathered into one body
    rows = _rows(browser_decode(b"".join(chunks)))
    assert len(rows) == many_orders == 50
    assert rows[0]["reference"] == "D000" and rows[-1]["reference"] == "D049"


def test_it_sends_the_wsgi_export_as_one_gzip_member(many_orders, manager):
    client = Client()
    client.force_login(manager)
    response = client.get(EXPORT, headers={"Accept-Encoding": "gzip"})
    assert response["Content-Encoding"] == "gzip"
    assert len(_rows(browser_decode(b"".join(response.streaming_content)))) == 50


def test_it_leaves_the_export_plain_for_a_client_without_gzip(many_orders, manager):
    client = Client()
    client.force_login(manager)
    response = client.get(EXPORT)
    assert not response.has_header("Content-Encoding")
    assert len(_rows(b"".join(response.streaming_content))) == 50


def test_it_compresses_any_async_stream_as_one_member():
    async def pages():
        for n in range(5):
            yield f"page {n}\n".encode() * 100

    async def run():
        request = RequestFactory().get("/", headers={"Accept-Encoding": "gzip"})
        response = GZipMiddleware(lambda r: None).process_response(request, StreamingHttpResponse(pages()))
        return response, [chunk async for chunk in response.streaming_content]

    response, chunks = async_to_sync(run)()
    assert response["Content-Encoding"] == "gzip" and "Accept-Encoding" in response["Vary"]
    # Flushed per page: the client gets each page as it is made, not all at the end.
    assert sum(1 for chunk in chunks if chunk) >= 6
    assert browser_decode(b"".join(chunks)) == b"".join(f"page {n}\n".encode() * 100 for n in range(5))


def test_it_would_lose_all_but_the_first_chunk_with_one_member_per_chunk():
    # What Django 5.2 sent: the browser's decoder keeps the first member and drops the rest.
    from django.utils.text import compress_string

    body = compress_string(b"reference,date\n") + compress_string(b"O1,2026-03-10\n")
    decoder = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    assert decoder.decompress(body) == b"reference,date\n" and decoder.unused_data
