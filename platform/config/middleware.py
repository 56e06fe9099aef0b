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

from studies.retry import mturk_frameable, retry_page

logger = logging.getLogger(__name__)

RETRY_AFTER_S = 5
RATER_VIEWS = {"invite", "mturk", "rate", "media"}


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
        if not (match and match.namespace == "studies" and match.url_name in RATER_VIEWS):
            response = HttpResponse(
                render_to_string("503.html", {"retry_after": RETRY_AFTER_S}, request=request), status=503
            )
            response["Retry-After"] = str(RETRY_AFTER_S)
            response["Cache-Control"] = "no-store"
            return response
        if match.url_name == "media":  # a player's request: no page to show
            response = HttpResponse(
                "Temporarily unavailable, try again.", status=503, content_type="text/plain"
            )
            response["Retry-After"] = str(RETRY_AFTER_S)
            return mturk_frameable(response)
        return retry_page(request, status=503, retry_after=RETRY_AFTER_S)
