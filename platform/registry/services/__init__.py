"""Registry workflows. Views, commands and tasks call these; they hold no request or task objects.

Functions take keyword-only arguments and are named `<thing>_<action>`.
"""

from registry.services.datasets import dataset_import, dataset_prepare, dataset_refresh_stats
from registry.services.generation import (
    generation_batch_failed,
    generation_batch_run,
    generation_run_check_complete,
    generation_run_create,
    generation_run_finalize,
    generation_run_launch,
    generation_run_plan,
    generation_run_start,
    protocol_systems,
    samples_finish,
)
from registry.services.jobs import command_detach, job_finish, job_progress, job_start
from registry.services.systems import (
    SystemImportError,
    run_inputs_archive,
    run_inputs_export,
    run_inputs_pack,
    run_summary_refresh,
    system_import_create,
    system_import_execute,
    system_import_launch,
)
from registry.services.training import (
    checkpoint_local_path,
    checkpoint_register,
    training_run_create,
    training_run_execute,
)
from registry.services.uploads import (
    checkpoint_upload_create,
    checkpoint_upload_launch,
    checkpoint_upload_register,
)

__all__ = [
    "SystemImportError",
    "run_inputs_archive",
    "run_inputs_export",
    "run_inputs_pack",
    "run_summary_refresh",
    "system_import_create",
    "system_import_execute",
    "system_import_launch",
    "generation_batch_failed",
    "generation_batch_run",
    "generation_run_check_complete",
    "generation_run_create",
    "generation_run_launch",
    "generation_run_finalize",
    "generation_run_plan",
    "generation_run_start",
    "protocol_systems",
    "samples_finish",
    "checkpoint_local_path",
    "checkpoint_register",
    "checkpoint_upload_create",
    "checkpoint_upload_launch",
    "checkpoint_upload_register",
    "training_run_create",
    "training_run_execute",
    "dataset_import",
    "dataset_prepare",
    "dataset_refresh_stats",
    "command_detach",
    "job_finish",
    "job_progress",
    "job_start",
]
