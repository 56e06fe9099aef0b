"""Serving media files from local storage with HTTP Range support.

Browsers fetch audio and video in byte ranges and cannot seek without them (Django's static `serve`
answers every request with the whole file). Used for the embedded default and tests (SERVE_MEDIA);
production serves media from S3 or the front proxy, which handle ranges themselves.
"""

from __future__ import annotations

import mimetypes
import os
import re
from pathlib import Path

from django.conf import settings
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.utils._os import safe_join
from django.utils.http import http_date
from django.views.decorators.http import require_http_methods

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
_EXTRA_TYPES = {
    ".npy": "application/octet-stream",
    ".wav": "audio/wav",
    ".mp4": "video/mp4",
    ".json": "application/json",
}
_CHUNK = 64 * 1024


class _RangeFile:
    """Yields `length` bytes of an open file from `start`, then closes it."""

    def __init__(self, handle, start: int, length: int) -> None:
        self.handle, self.remaining = handle, length
        handle.seek(start)

    def __iter__(self):
        try:
            while self.remaining > 0:
                chunk = self.handle.read(min(_CHUNK, self.remaining))
                if not chunk:
                    break
                self.remaining -= len(chunk)
                yield chunk
        finally:
            self.handle.close()


def _content_type(path: Path) -> str:
    return (
        _EXTRA_TYPES.get(path.suffix.lower())
        or mimetypes.guess_type(path.name)[0]
        or "application/octet-stream"
    )


@require_http_methods(["GET", "HEAD"])
def serve_media(request: HttpRequest, path: str) -> HttpResponse:
    try:
        full = Path(safe_join(str(settings.MEDIA_ROOT), path))
    except Exception:  # SuspiciousFileOperation: a path escaping MEDIA_ROOT
        raise Http404("no such file") from None
    if not full.is_file() or any(part.startswith(".") for part in Path(path).parts):
        raise Http404("no such file")
    return file_response(request, full)


def file_response(request: HttpRequest, full: Path) -> HttpResponse:
    """The file at `full` (already resolved and checked by the caller), honouring a Range header."""
    size = full.stat().st_size
    content_type = _content_type(full)
    header = request.headers.get("Range", "")
    match = _RANGE.match(header.strip()) if header else None
    # Multiple or malformed ranges fall through to the whole file, which RFC 9110 permits.
    if match and (match.group(1) or match.group(2)):
        first, last = match.group(1), match.group(2)
        if first:
            start = int(first)
            end = min(int(last), size - 1) if last else size - 1
        else:  # suffix range: the last N bytes
            start, end = max(0, size - int(last)), size - 1
        if start >= size or start > end:
            response = HttpResponse(status=416)
            response["Content-Range"] = f"bytes */{size}"
            return response
        length = end - start + 1
        if request.method == "HEAD":
            response = HttpResponse(status=206, content_type=content_type)
        else:
            body = _RangeFile(full.open("rb"), start, length)
            response = StreamingHttpResponse(body, status=206, content_type=content_type)
        response["Content-Range"] = f"bytes {start}-{end}/{size}"
        response["Content-Length"] = str(length)
    else:
        if request.method == "HEAD":
            response = HttpResponse(content_type=content_type)
        else:
            response = FileResponse(full.open("rb"), content_type=content_type)
        response["Content-Length"] = str(size)
    response["Accept-Ranges"] = "bytes"
    response["Last-Modified"] = http_date(os.path.getmtime(full))
    response["Cache-Control"] = "private, max-age=3600"
    return response
