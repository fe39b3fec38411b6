"""Gzip for every response, streamed ones as one gzip stream whatever kind of iterator makes them.

Django 5.2's GZipMiddleware compresses an async streamed response (a StreamingHttpResponse over an
async generator, as the analytics CSV export is under daphne) chunk by chunk with `compress_string`:
each chunk becomes a gzip member of its own. RFC 1952 allows several members, and curl and Python's
gzip read them all, but browsers decode the first member only: Chromium saved the export's header
row (the first chunk) and dropped every order. Here async streams go through one compressor, as
Django already does for sync ones (`compress_sequence`), so any streamed download arrives whole.

Each chunk is flushed (Z_SYNC_FLUSH) as it is compressed, so a long export keeps reaching the
client page by page instead of sitting in the compressor's buffer.
"""

import secrets
from gzip import GzipFile

from django.middleware.gzip import GZipMiddleware as DjangoGZipMiddleware
from django.middleware.gzip import re_accepts_gzip
from django.utils.cache import patch_vary_headers
from django.utils.text import StreamingBuffer

COMPRESS_LEVEL = 6  # Django's level for pages


def _random_filename(max_random_bytes: int) -> str:
    # A random-length name in the gzip header varies the compressed length (Django's BREACH mitigation).
    return secrets.token_hex(secrets.randbelow(max_random_bytes) + 1)


def gzip_stream(chunks, *, max_random_bytes: int | None = None):
    """One gzip member for a sync iterable of byte strings, flushed chunk by chunk."""
    buffer = StreamingBuffer()
    name = _random_filename(max_random_bytes) if max_random_bytes else None
    with GzipFile(filename=name, mode="wb", compresslevel=COMPRESS_LEVEL, fileobj=buffer, mtime=0) as compressor:
        yield buffer.read()  # the gzip header
        for chunk in chunks:
            compressor.write(chunk)
            compressor.flush()
            if data := buffer.read():
                yield data
    yield buffer.read()  # the last block and the trailer (CRC, length)


async def gzip_stream_async(chunks, *, max_random_bytes: int | None = None):
    """One gzip member for an async iterable of byte strings, flushed chunk by chunk."""
    buffer = StreamingBuffer()
    name = _random_filename(max_random_bytes) if max_random_bytes else None
    with GzipFile(filename=name, mode="wb", compresslevel=COMPRESS_LEVEL, fileobj=buffer, mtime=0) as compressor:
        yield buffer.read()
        async for chunk in chunks:
            compressor.write(chunk)
            compressor.flush()
            if data := buffer.read():
                yield data
    yield buffer.read()


class GZipMiddleware(DjangoGZipMiddleware):
    """Django's GZipMiddleware, with streamed responses (sync or async) compressed as one gzip member."""

    def process_response(self, request, response):
        if not response.streaming:
            return super().process_response(request, response)
        if response.has_header("Content-Encoding"):
            return response
        patch_vary_headers(response, ("Accept-Encoding",))
        if not re_accepts_gzip.search(request.META.get("HTTP_ACCEPT_ENCODING", "")):
            return response
        # Captured here: streaming_content is replaced just below.
        original = response.streaming_content
        if response.is_async:
            response.streaming_content = gzip_stream_async(original, max_random_bytes=self.max_random_bytes)
        else:
            response.streaming_content = gzip_stream(original, max_random_bytes=self.max_random_bytes)
        del response.headers["Content-Length"]
        etag = response.get("ETag")
        if etag and etag.startswith('"'):
            response.headers["ETag"] = "W/" + etag  # RFC 9110 8.8.1: a compressed body is not byte-identical
        response.headers["Content-Encoding"] = "gzip"
        return response
