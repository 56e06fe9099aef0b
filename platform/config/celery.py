"""The Celery application: `celery --workdir platform -A config worker -Q gpu|cpu|default`.

Tasks are named `<queue>.<what>` and routed by that prefix (settings.CELERY_TASK_ROUTES). A task takes
ids or plain JSON job specs, never model objects, and must be idempotent: with acks_late a task whose
worker died is delivered again.
"""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("varietysound")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(["registry", "studies"])


def _survive_a_broker_restart() -> None:
    """Keep a worker alive when Redis goes away while it holds unacknowledged tasks.

    Celery 5.7.0 reacts to a lost broker connection by collecting the connection (which detaches its
    channels from the transport) and then closing it. Whatever then needs a Redis client on an old
    channel (closing it puts its unacknowledged messages back; a running task that finishes
    acknowledges its message) looks up the detached transport's address and raises AttributeError.
    That is not a connection error, so it escapes kombu's handling and the worker stops with
    "Unrecoverable error", killing its running tasks. Found by tests/platform/test_e2e_distributed.py
    (Redis restarted mid-run).

    Raising the connection error it really is lets kombu handle it as designed: the restore and the
    acknowledgement are skipped with a log line, the messages stay in Redis's unacked set, and what
    was not acknowledged is handed out again after the visibility timeout (tasks are idempotent).
    """
    import redis
    from kombu.transport import redis as kombu_redis

    original = kombu_redis.Channel._connparams
    if getattr(original, "survives_broker_restart", False):
        return

    def _connparams(self, asynchronous=False):
        if getattr(self.connection, "client", None) is None:
            raise redis.exceptions.ConnectionError("this channel's broker connection was closed")
        return original(self, asynchronous=asynchronous)

    _connparams.survives_broker_restart = True
    kombu_redis.Channel._connparams = _connparams


_survive_a_broker_restart()
