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
