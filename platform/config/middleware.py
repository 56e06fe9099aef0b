"""Keep a database outage from turning into server errors.

When PostgreSQL restarts or fails over, requests in flight get OperationalError / InterfaceError.
Django closes the broken connection at the end of the request and the next request reconnects (with
CONN_HEALTH_CHECKS); what is left is to tell the person on the page what happened. A rater who was
submitting a rating gets a page that carries their answer and sends it again by itself (rating
submissions are idempotent, so a retry that overlaps a success stores nothing twice); everyone else
gets a 503 with Retry-After.
"""

from __future__ import annotations

import logging

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string

logger = logging.getLogger(__name__)

RETRY_AFTER_S = 5
# The rating form's fields, carried into the retry page (nothing else of the request is echoed).
RATING_FIELDS = ("stimulus", "score", "time_ms", "plays", "ended")
RATER_VIEWS = {"invite", "mturk", "rate", "media"}


def rating_resend(request: HttpRequest) -> list[tuple[str, str]] | None:
    """The rating form's fields of a POST, for a page that sends them again (None for a GET)."""
    if request.method != "POST":
        return None
    return [(name, request.POST.get(name, "")) for name in RATING_FIELDS]


class DatabaseUnavailableMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, (OperationalError, InterfaceError)):
            return None
        logger.warning("database unavailable during %s %s: %s", request.method, request.path, exception)
        match = request.resolver_match
        rater_page = bool(match and match.namespace == "studies" and match.url_name in RATER_VIEWS)
        context = {
            "retry_after": RETRY_AFTER_S,
            "resend": rating_resend(request) if rater_page and match.url_name == "rate" else None,
            "media": rater_page and match.url_name == "media",
        }
        if context["media"]:
            response = HttpResponse(
                "Temporarily unavailable, try again.", status=503, content_type="text/plain"
            )
        else:
            template = "studies/rater_retry.html" if rater_page else "503.html"
            response = HttpResponse(render_to_string(template, context, request=request), status=503)
        response["Retry-After"] = str(RETRY_AFTER_S)
        response["Cache-Control"] = "no-store"
        if rater_page:  # the rater pages live in MTurk's frame: keep them frameable there
            from django.conf import settings

            response.xframe_options_exempt = True
            ancestors = " ".join(["'self'", *settings.MTURK_FRAME_ANCESTORS])
            response["Content-Security-Policy"] = f"frame-ancestors {ancestors}"
        return response
