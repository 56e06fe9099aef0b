"""Are PostgreSQL and Redis reachable for the second pass of `make test`?

Exit 0: yes. Exit 3: no, and this is not CI: the pass is skipped with the reason printed.
Exit 1: no, and CI=true: a missing service is a failure, never a silent skip.
Usage: python tests/services_ready.py DATABASE_URL BROKER_URL
"""

from __future__ import annotations

import os
import sys
from urllib.parse import urlsplit


def _postgres_problem(url: str) -> str | None:
    import psycopg2

    parts = urlsplit(url)
    try:
        # Connect to the maintenance database: the test database does not exist until pytest makes it.
        conn = psycopg2.connect(
            host=parts.hostname or "127.0.0.1",
            port=parts.port or 5432,
            user=parts.username or "postgres",
            password=parts.password or None,
            dbname="postgres",
            connect_timeout=5,
        )
    except psycopg2.Error as exc:
        return f"PostgreSQL at {parts.hostname}:{parts.port or 5432} unreachable: {str(exc).strip()}"
    conn.close()
    return None


def _redis_problem(url: str) -> str | None:
    import redis

    try:
        redis.Redis.from_url(url, socket_connect_timeout=5).ping()
    except redis.RedisError as exc:
        return f"Redis at {url} unreachable: {exc}"
    return None


def main() -> int:
    database_url, broker_url = sys.argv[1], sys.argv[2]
    problems = [p for p in (_postgres_problem(database_url), _redis_problem(broker_url)) if p]
    if not problems:
        print(f"services pass: PostgreSQL and Redis reachable ({urlsplit(database_url).hostname})")
        return 0
    for problem in problems:
        print(problem, file=sys.stderr)
    if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
        print("CI=true: the PostgreSQL + Redis pass cannot be skipped", file=sys.stderr)
        return 1
    print("SKIPPED the PostgreSQL + Redis + celery worker pass: services unreachable (see above)")
    return 3


if __name__ == "__main__":
    sys.exit(main())
