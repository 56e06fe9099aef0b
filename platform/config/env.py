"""Typed readers for settings that come from the environment.

Every reader names the variable in its error, so a bad deployment fails at start-up with a message a
person can act on instead of a stack trace deep inside Django.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from urllib.parse import parse_qsl, unquote, urlsplit

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str | None = None, *, required: bool = False) -> str | None:
    value = os.environ.get(name)
    if value is None or value == "":
        if required:
            raise ImproperlyConfigured(f"{name} must be set")
        return default
    return value


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (1/0, true/false, yes/no, on/off), got {value!r}")


def env_int(name: str, default: int, *, minimum: int | None = None, maximum: int | None = None) -> int:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    try:
        number = int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, got {value!r}") from None
    if minimum is not None and number < minimum:
        raise ImproperlyConfigured(f"{name} must be >= {minimum}, got {number}")
    if maximum is not None and number > maximum:
        raise ImproperlyConfigured(f"{name} must be <= {maximum}, got {number}")
    return number


def env_list(name: str, default: list[str]) -> list[str]:
    value = os.environ.get(name)
    if value is None:
        return list(default)
    return [item.strip() for item in value.split(",") if item.strip()]


def env_rate(name: str, default: str) -> tuple[int, int]:
    """A rate limit written "<requests>/<seconds>", as (requests, seconds); "0" turns it off: (0, 0)."""
    value = (os.environ.get(name) or default).strip()
    if value == "0":
        return (0, 0)
    count, _, seconds = value.partition("/")
    try:
        limit = (int(count), int(seconds))
    except ValueError:
        raise ImproperlyConfigured(
            f"{name} must look like 30/60 (requests/seconds) or 0, got {value!r}"
        ) from None
    if limit[0] < 1 or limit[1] < 1:
        raise ImproperlyConfigured(f"{name} needs positive requests and seconds, got {value!r}")
    return limit


@dataclass(frozen=True)
class DatabaseUrl:
    engine: str
    name: str
    user: str
    password: str
    host: str
    port: str
    options: dict[str, str]

    def as_django(self) -> dict:
        config = {
            "ENGINE": self.engine,
            "NAME": self.name,
            "USER": self.user,
            "PASSWORD": self.password,
            "HOST": self.host,
            "PORT": self.port,
            "OPTIONS": dict(self.options),
        }
        if self.engine.endswith("postgresql"):
            # Ratings arrive in bursts; keep connections for a minute and check them before use so a
            # database restart costs one failed health check, not one failed rating.
            config["CONN_MAX_AGE"] = 60
            config["CONN_HEALTH_CHECKS"] = True
        return config


_ENGINES = {
    "postgres": "django.db.backends.postgresql",
    "postgresql": "django.db.backends.postgresql",
    "pgsql": "django.db.backends.postgresql",
    "sqlite": "django.db.backends.sqlite3",
}


def parse_database_url(name: str, url: str) -> DatabaseUrl:
    """Parse `postgres://user:pass@host:port/db?sslmode=require` or `sqlite:///relative/or//abs.db`."""
    parts = urlsplit(url)
    engine = _ENGINES.get(parts.scheme)
    if engine is None:
        raise ImproperlyConfigured(
            f"{name} has an unsupported scheme {parts.scheme!r}; use one of {sorted(_ENGINES)}"
        )
    if engine.endswith("sqlite3"):
        path = unquote(parts.path)
        # sqlite:///var/db.sqlite3 is relative (to the checkout), sqlite:////abs/db.sqlite3 absolute,
        # as in SQLAlchemy: drop the one slash that separates the empty host from the path.
        path = path[1:]
        if not path:
            raise ImproperlyConfigured(f"{name} names no SQLite file")
        return DatabaseUrl(engine, path, "", "", "", "", {})
    db_name = unquote(parts.path.lstrip("/"))
    if not db_name:
        raise ImproperlyConfigured(f"{name} names no database (expected .../<database>)")
    try:
        port = str(parts.port or "")
    except ValueError:
        raise ImproperlyConfigured(f"{name} has an invalid port") from None
    return DatabaseUrl(
        engine=engine,
        name=db_name,
        user=unquote(parts.username or ""),
        password=unquote(parts.password or ""),
        host=parts.hostname or "",
        port=port,
        options=dict(parse_qsl(parts.query)),
    )
