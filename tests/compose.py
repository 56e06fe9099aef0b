"""docker-compose.yml's services outside Docker, on this machine's own ports and folders.

The end-to-end test and the rating load benchmark both run the compose file's own commands with the
settings of .env.example, so what they prove holds for the deployment; only the addresses, the folders
and the plain-HTTP switches (no TLS proxy on loopback) differ, and they differ here, in one place.
"""

from __future__ import annotations

import os
import secrets
import socket
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
SERVICES = ("web", "worker-gpu", "worker-cpu", "beat")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def compose_commands(*, web_port: int, media_root: Path) -> dict[str, str]:
    """Each service's command, bound to 127.0.0.1:web_port with the media volume at media_root."""
    services = yaml.safe_load((REPO / "docker-compose.yml").read_text())["services"]
    return {
        name: services[name]["command"]
        .replace("0.0.0.0:8000", f"127.0.0.1:{web_port}")
        .replace("/srv/media", str(media_root))
        for name in SERVICES
    }


def compose_environment(
    *, root: Path, database_url: str, cache_url: str, broker_url: str | None = None, **overrides: str
) -> dict[str, str]:
    """.env.example as docker-compose reads it, pointed at this machine; without a broker the Celery
    settings are left out (tasks would run in-process, which the caller must not need)."""
    env = {}
    for line in (REPO / ".env.example").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#") and "=" in line:
            key, _, value = line.partition("=")
            env[key.strip()] = value.strip()
    for key in ("CELERY_BROKER_URL", "CELERY_RESULT_BACKEND", "CELERY_KEY_PREFIX"):
        env.pop(key, None)
    if broker_url:
        env["CELERY_BROKER_URL"] = f"{broker_url}/0"
        env["CELERY_RESULT_BACKEND"] = f"{broker_url}/1"
    env.update(
        {
            "DATABASE_URL": database_url,
            "CACHE_URL": cache_url,
            "MEDIA_ROOT": str(root / "media"),
            "STATIC_ROOT": str(root / "static"),
            "VAR_DIR": str(root / "var"),
            "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
            # Plain HTTP on loopback: no TLS proxy in front, so no X-Forwarded-* either.
            "DJANGO_SECURE_SSL_REDIRECT": "0",
            "DJANGO_SESSION_COOKIE_SECURE": "0",
            "DJANGO_CSRF_COOKIE_SECURE": "0",
            "DJANGO_SECURE_HSTS_SECONDS": "0",
            "DJANGO_NUM_PROXIES": "0",
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
            "PYTHONUNBUFFERED": "1",
            **overrides,
        }
    )
    return {**{k: v for k, v in os.environ.items() if k in ("HOME", "LANG", "TMPDIR")}, **env}
