"""Settings come from the environment, with clear errors that name the variable."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from django.core.exceptions import ImproperlyConfigured

from config.env import env_bool, env_int, env_list, env_rate, parse_database_url
from tests.conftest import REPO

PRODUCTION_ENV = {
    "DJANGO_DEBUG": "0",
    "DJANGO_SECRET_KEY": "x7Jq2-production-like-secret-key-with-enough-entropy-9f8a7c6b5d4e",
    "DJANGO_ALLOWED_HOSTS": "eval.example.org",
    "DJANGO_CSRF_TRUSTED_ORIGINS": "https://eval.example.org",
    "DATABASE_URL": "postgres://eval:pw@db:5432/eval",
    "CELERY_BROKER_URL": "redis://redis:6379/0",
}


def run_python(code: str, env: dict[str, str], *, with_platform: bool = True) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_", "CELERY_"))}
    clean.update(env)
    clean["PYTHONPATH"] = os.pathsep.join(
        [str(REPO / "platform"), str(REPO)] if with_platform else [str(REPO)]
    )
    return subprocess.run(
        [sys.executable, "-c", code], env=clean, cwd=REPO, capture_output=True, text=True, timeout=120
    )


def test_it_parses_a_postgres_url_with_options():
    db = parse_database_url(
        "DATABASE_URL", "postgres://u%40x:p%2Fw@db.local:6543/eval?sslmode=require"
    ).as_django()
    assert db["ENGINE"] == "django.db.backends.postgresql"
    assert (db["USER"], db["PASSWORD"], db["HOST"], db["PORT"], db["NAME"]) == (
        "u@x",
        "p/w",
        "db.local",
        "6543",
        "eval",
    )
    assert db["OPTIONS"] == {"sslmode": "require"}


def test_it_parses_relative_and_absolute_sqlite_urls():
    assert parse_database_url("X", "sqlite:///var/db.sqlite3").name == "var/db.sqlite3"
    assert parse_database_url("X", "sqlite:////srv/db.sqlite3").name == "/srv/db.sqlite3"


@pytest.mark.parametrize("url", ["mysql://u@h/db", "postgres://u@h:5432/", "postgres://u@h:notaport/db"])
def test_it_rejects_a_bad_database_url_naming_the_variable(url):
    with pytest.raises(ImproperlyConfigured, match="DATABASE_URL"):
        parse_database_url("DATABASE_URL", url)


def test_typed_helpers_name_the_variable_in_their_errors(monkeypatch):
    monkeypatch.setenv("SOME_FLAG", "maybe")
    with pytest.raises(ImproperlyConfigured, match="SOME_FLAG"):
        env_bool("SOME_FLAG", False)
    monkeypatch.setenv("SOME_NUMBER", "12x")
    with pytest.raises(ImproperlyConfigured, match="SOME_NUMBER"):
        env_int("SOME_NUMBER", 1)
    monkeypatch.setenv("SOME_NUMBER", "0")
    with pytest.raises(ImproperlyConfigured, match="SOME_NUMBER must be >= 1"):
        env_int("SOME_NUMBER", 1, minimum=1)
    monkeypatch.setenv("SOME_LIST", " a, b ,,c ")
    assert env_list("SOME_LIST", []) == ["a", "b", "c"]


@pytest.mark.parametrize("value", ["fast", "30", "30/0", "-1/60", "1/2/3", "x/60"])
def test_a_bad_rate_limit_is_refused_naming_the_variable(monkeypatch, value):
    monkeypatch.setenv("RATER_ENTRY_LIMIT", value)
    with pytest.raises(ImproperlyConfigured, match="RATER_ENTRY_LIMIT"):
        env_rate("RATER_ENTRY_LIMIT", "30/60")


def test_rate_limits_read_as_requests_per_seconds_and_zero_turns_them_off(monkeypatch):
    assert env_rate("UNSET_LIMIT", "30/60") == (30, 60)
    monkeypatch.setenv("RATER_TASK_LIMIT", " 0 ")
    assert env_rate("RATER_TASK_LIMIT", "600/60") == (0, 0)


def test_a_cache_url_that_is_not_redis_stops_start_up():
    result = run_python(
        "import django; django.setup()",
        {"DJANGO_SETTINGS_MODULE": "config.settings", "DJANGO_DEBUG": "1", "CACHE_URL": "memcached://x"},
    )
    assert result.returncode != 0 and "CACHE_URL must be a redis:// URL" in result.stderr


def test_it_refuses_to_start_without_a_secret_key_when_debug_is_off():
    result = run_python(
        "import django; django.setup()", {"DJANGO_SETTINGS_MODULE": "config.settings", "DJANGO_DEBUG": "0"}
    )
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY must be set when DJANGO_DEBUG is off" in result.stderr


def test_it_refuses_a_non_https_mturk_base_url():
    env = {
        **PRODUCTION_ENV,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "MTURK_EXTERNAL_BASE_URL": "http://x.org",
    }
    result = run_python("import django; django.setup()", env)
    assert "MTURK_EXTERNAL_BASE_URL must start with https://" in result.stderr


def test_embedded_default_is_sqlite_with_in_process_tasks(settings):
    # The first pass of `make test` runs with neither DATABASE_URL nor CELERY_BROKER_URL.
    if os.environ.get("DATABASE_URL") or os.environ.get("CELERY_BROKER_URL"):
        pytest.skip("this pass runs on configured services (the PostgreSQL + Redis pass)")
    assert settings.DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3"
    assert settings.CELERY_TASK_ALWAYS_EAGER is True


def test_the_web_process_never_imports_torch():
    code = (
        "import sys, django; django.setup(); "
        "from django.urls import get_resolver; "
        "import config.urls, config.wsgi, registry.views, registry.admin, registry.tasks; "
        "from django.test import Client; "
        "r = Client().get('/accounts/login/', HTTP_HOST='localhost'); assert r.status_code == 200, r.status_code; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in {'torch', 'librosa', 'resemblyzer'}))"
    )
    env = {"DJANGO_SETTINGS_MODULE": "config.settings", "DJANGO_DEBUG": "1", "DJANGO_SECRET_KEY": "k" * 60}
    result = run_python(code, env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]", f"the web process imported: {result.stdout}"


def test_the_standard_library_platform_module_is_not_shadowed():
    assert not (REPO / "platform" / "__init__.py").exists()
    result = run_python(
        "import django, platform, uuid; django.setup(); print(platform.python_version())",
        {"DJANGO_SETTINGS_MODULE": "config.settings", "DJANGO_DEBUG": "1"},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().startswith("3.")


def test_check_deploy_is_clean_with_production_like_values():
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_", "CELERY_"))}
    env.update(PRODUCTION_ENV)
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout
