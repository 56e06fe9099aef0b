"""Rate limits on the rater endpoints, counted in the shared cache (Redis in deployments).

Fixed windows: a counter per (scope, key, window) that expires with its window. The cost of the
simplicity is that a client can send up to twice the limit across a window boundary, which is fine for
the purpose: stop a script from creating raters by the thousand or hammering one task, not shape
traffic. If the cache is unreachable the limit is skipped (with a warning in the log): a Redis restart
must not lock raters out of a running study.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from functools import wraps

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from studies.retry import retry_page

logger = logging.getLogger(__name__)


def client_address(request: HttpRequest) -> str:
    """The client's address: the socket's, or with DJANGO_NUM_PROXIES trusted proxies in front, the
    address the outermost of them saw (entries further left in X-Forwarded-For are the client's word)."""
    proxies = settings.DJANGO_NUM_PROXIES
    if proxies:
        forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
        forwarded = [part for part in forwarded if part]
        if len(forwarded) >= proxies:
            return forwarded[-proxies]
    return request.META.get("REMOTE_ADDR", "")


def limit_wait(*, scope: str, key: str, limit: tuple[int, int]) -> int:
    """Count one request; return 0 if it is within the limit, else the seconds until the window ends."""
    count, seconds = limit
    if not count:
        return 0
    now = time.time()
    window = int(now // seconds)
    digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:24]
    name = f"rl:{scope}:{digest}:{window}"
    try:
        cache.add(name, 0, timeout=seconds + 1)
        used = cache.incr(name)
    except ValueError:  # the key expired between add and incr: this request opens the window
        cache.set(name, 1, timeout=seconds + 1)
        used = 1
    except Exception as exc:  # the cache is down: serve the rater rather than fail the request
        logger.warning("rate limit %s skipped: cache unavailable (%s)", scope, exc)
        return 0
    if used <= count:
        return 0
    return max(1, int(seconds - (now % seconds)) + 1)


def too_many(request: HttpRequest, wait: int) -> HttpResponse:
    """429. A refused rating is not stored, so its page carries the answer and sends it again after
    the wait, as the outage page does; any other page says how long to wait."""
    if request.method == "POST":
        return retry_page(
            request, status=429, retry_after=wait, reason="because of too many requests in a short time"
        )
    text = f"Too many requests in a short time. Please wait {wait} seconds, then try again."
    response = render(
        request, "studies/rater_message.html", {"title": "Please slow down", "text": text}, status=429
    )
    response["Retry-After"] = str(wait)
    return response


def rate_limited(scope: str, setting: str, key: Callable[..., str]):
    """Apply the limit named by `setting` to a view, counting per `key(request, **kwargs)`."""

    def decorate(view):
        @wraps(view)
        def wrapper(request: HttpRequest, *args, **kwargs):
            wait = limit_wait(scope=scope, key=key(request, **kwargs), limit=getattr(settings, setting))
            if wait:
                return too_many(request, wait)
            return view(request, *args, **kwargs)

        return wrapper

    return decorate


def by_address(request: HttpRequest, **kwargs) -> str:
    return client_address(request)


def by_token(request: HttpRequest, *, token: str, **kwargs) -> str:
    return token
