"""Pages that ask a rater to wait: a database outage (503, config.middleware) and the rate limits
(429, studies.throttle). A rating that could not be stored comes back on the page, which sends it
again by itself after the wait; rating submissions are idempotent, so a resend that overlaps a
success stores nothing twice. Raters see these pages inside MTurk's frame.
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

# The rating form's fields, carried into the retry page (nothing else of the request is echoed).
RATING_FIELDS = ("stimulus", "score", "time_ms", "plays", "ended")


def mturk_frameable(response: HttpResponse) -> HttpResponse:
    """Let MTurk's pages (and ours) frame this response, nobody else."""
    ancestors = " ".join(["'self'", *settings.MTURK_FRAME_ANCESTORS])
    response["Content-Security-Policy"] = f"frame-ancestors {ancestors}"
    response.xframe_options_exempt = True
    return response


def retry_page(request: HttpRequest, *, status: int, retry_after: int, reason: str = "") -> HttpResponse:
    """The waiting page; for a rating that was posted, it carries the answer and resends it."""
    match = request.resolver_match
    posted_rating = request.method == "POST" and match is not None and match.url_name == "rate"
    context = {
        "retry_after": retry_after,
        "resend": [(name, request.POST.get(name, "")) for name in RATING_FIELDS] if posted_rating else None,
        "reason": reason,
    }
    response = render(request, "studies/rater_retry.html", context, status=status)
    response["Retry-After"] = str(retry_after)
    response["Cache-Control"] = "no-store"
    return mturk_frameable(response)
