"""Registry workflows. Views, commands and tasks call these; they hold no request or task objects.

Functions take keyword-only arguments and are named `<thing>_<action>`.
"""

from registry.services.datasets import dataset_import, dataset_prepare, dataset_refresh_stats
from registry.services.jobs import job_finish, job_progress, job_start
from registry.services.training import (
    checkpoint_local_path,
    checkpoint_register,
    training_run_create,
    training_run_execute,
)

__all__ = [
    "checkpoint_local_path",
    "checkpoint_register",
    "training_run_create",
    "training_run_execute",
    "dataset_import",
    "dataset_prepare",
    "dataset_refresh_stats",
    "job_finish",
    "job_progress",
    "job_start",
]
