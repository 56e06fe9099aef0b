"""The Celery routing and the docker-compose topology agree with each other and with the code."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import yaml
from django.conf import settings

from config.celery import app
from tests.conftest import REPO

COMPOSE = yaml.safe_load((REPO / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]


def _command(service: str) -> list[str]:
    command = SERVICES[service]["command"]
    text = command if isinstance(command, str) else shlex.join(command)
    # Unwrap `sh -c "a && b"` so each program can be checked.
    match = re.fullmatch(r'sh -c "(.*)"', text.strip(), flags=re.S)
    parts = [part.strip() for part in (match.group(1) if match else text).split("&&")]
    return [part.removeprefix("exec ").strip() for part in parts]  # exec: the server gets the signals


def _celery_args(service: str) -> list[str]:
    [line] = [c for c in _command(service) if c.startswith("celery")]
    return shlex.split(line)


def test_every_registered_task_is_named_after_an_existing_queue():
    app.loader.import_default_modules()
    ours = [name for name in app.tasks if not name.startswith("celery.")]
    assert ours, "no tasks registered"
    for name in ours:
        assert name.split(".")[0] in settings.TASK_QUEUES, f"{name} does not start with a queue name"


@pytest.mark.parametrize("queue", ["gpu", "cpu", "default"])
def test_tasks_route_to_the_queue_their_name_starts_with(queue):
    route = app.amqp.router.route({}, f"{queue}.anything")
    assert route["queue"].name == queue


def test_celery_is_json_only_with_late_acks_and_single_prefetch():
    conf = app.conf
    assert conf.task_serializer == "json" and conf.result_serializer == "json"
    assert conf.accept_content == ["json"]
    assert conf.task_acks_late and conf.task_reject_on_worker_lost
    assert conf.worker_prefetch_multiplier == 1
    assert conf.task_soft_time_limit < conf.task_time_limit
    # A redelivered unacked message must not restart a still-running training job.
    assert conf.broker_transport_options["visibility_timeout"] > settings.CELERY_TRAINING_TIME_LIMIT


def test_compose_has_the_whole_topology_with_healthchecks():
    assert set(SERVICES) >= {"db", "redis", "web", "worker-gpu", "worker-cpu", "beat"}
    for name, service in SERVICES.items():
        assert "healthcheck" in service, f"{name} has no healthcheck"
    app_services = ["web", "worker-gpu", "worker-cpu", "beat"]
    assert {SERVICES[s]["env_file"] for s in app_services} == {".env"}, "one env file for all"
    for name in app_services:
        assert any(v.endswith(":/srv/media") for v in SERVICES[name]["volumes"]), (
            f"{name} lacks the media volume"
        )
    assert (REPO / ".env.example").exists()


def test_the_web_service_runs_gunicorn_on_the_real_wsgi_module():
    gunicorn = shlex.split(next(c for c in _command("web") if c.startswith("gunicorn")))
    chdir = gunicorn[gunicorn.index("--chdir") + 1]
    module = next(a for a in gunicorn[1:] if re.fullmatch(r"[a-z_]+\.[a-z_]+", a))
    assert (REPO / chdir / Path(*module.split("."))).with_suffix(".py").exists()
    assert "python manage.py migrate --noinput" in _command("web")


@pytest.mark.parametrize(("service", "queues"), [("worker-gpu", {"gpu"}), ("worker-cpu", {"cpu", "default"})])
def test_worker_services_consume_real_queues_from_the_real_app(service, queues):
    args = _celery_args(service)
    workdir = args[args.index("--workdir") + 1]
    assert (REPO / workdir / args[args.index("-A") + 1] / "celery.py").exists()
    assert args[args.index("-A") + 2] == "worker"
    assert set(args[args.index("-Q") + 1].split(",")) == queues
    assert queues <= set(settings.TASK_QUEUES)


def test_the_gpu_worker_reserves_a_gpu_and_runs_one_process():
    service = SERVICES["worker-gpu"]
    devices = service["deploy"]["resources"]["reservations"]["devices"]
    assert devices[0]["driver"] == "nvidia" and "gpu" in devices[0]["capabilities"]
    args = _celery_args("worker-gpu")
    assert args[args.index("--concurrency") + 1] == "1"


def test_beat_runs_the_real_app():
    args = _celery_args("beat")
    assert args[args.index("-A") + 1] == "config" and "beat" in args
