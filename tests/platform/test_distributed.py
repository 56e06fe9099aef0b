"""A task sent through the broker to a separately started worker lands its result in the database.

Runs in the second pass of `make test` (DATABASE_URL on PostgreSQL, CELERY_BROKER_URL on Redis).
In the embedded pass it is skipped with the reason printed; with CI=true, unreachable services in
the services pass are a failure, not a skip.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from io import StringIO
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.db import connection

from registry import services, tasks
from registry.models import Clip, Dataset, GenerationRun, Sample, Status, SystemImport
from registry.services.systems import QUARANTINE
from tests.conftest import REPO, ci_mode
from tests.platform.pipeline import small_trained_dataset

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]


def _services_or_skip() -> None:
    if not settings.CELERY_BROKER_URL or connection.vendor != "postgresql":
        pytest.skip(
            "needs DATABASE_URL on PostgreSQL and CELERY_BROKER_URL: runs in the services pass of `make test`"
        )
    import redis

    try:
        redis.Redis.from_url(settings.CELERY_BROKER_URL, socket_connect_timeout=5).ping()
    except redis.RedisError as exc:
        message = f"broker unreachable: {exc}"
        if ci_mode():
            pytest.fail(message)
        pytest.skip(message)


def _worker_database_url() -> str:
    db = settings.DATABASES["default"]  # pytest-django has switched NAME to the test database
    auth = quote(db["USER"], safe="")
    if db["PASSWORD"]:
        auth += ":" + quote(db["PASSWORD"], safe="")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def _start_worker(queues: str, name: str, var_dir, **extra_env: str) -> subprocess.Popen:
    """A `celery worker` in its own process group; its output goes to a file (a pipe nobody reads
    would fill up and stall the worker), which _stop returns."""
    env = {
        **os.environ,
        **extra_env,
        "DATABASE_URL": _worker_database_url(),
        "MEDIA_ROOT": str(settings.MEDIA_ROOT),
        "VAR_DIR": str(var_dir),
        "PYTHONUNBUFFERED": "1",
    }
    var_dir.mkdir(parents=True, exist_ok=True)
    log = var_dir / f"worker-{name}-{uuid.uuid4().hex[:6]}.log"
    with log.open("w") as handle:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "--workdir",
                "platform",
                "-A",
                "config",
                "worker",
                "-Q",
                queues,
                "--concurrency",
                "1",
                "--hostname",
                f"{name}-{uuid.uuid4().hex[:8]}@localhost",
                "--without-gossip",
                "--without-mingle",
                "--loglevel",
                "INFO",
            ],
            cwd=REPO,
            env=env,
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    process.log_path = log
    return process


def _stop(process: subprocess.Popen) -> str:
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
    except ProcessLookupError:
        pass
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    return process.log_path.read_text(errors="replace")


@pytest.fixture
def worker(tmp_path):
    _services_or_skip()
    process = _start_worker("default,cpu", "cpu", tmp_path / "var")
    yield process
    _stop(process)


@pytest.fixture
def gpu_and_cpu_workers(tmp_path, settings):
    """The deployed topology: one worker on the gpu queue, another on cpu and default."""
    _services_or_skip()
    settings.VAR_DIR = tmp_path / "var"
    processes = [
        _start_worker("gpu", "gpu", tmp_path / "var"),
        _start_worker("cpu,default", "cpu", tmp_path / "var"),
    ]
    yield processes
    logs = [_stop(p) for p in processes]
    (tmp_path / "worker-logs.txt").write_text("\n\n".join(logs))


def test_a_task_sent_through_redis_is_run_by_a_separate_worker_into_postgres(worker):
    assert settings.CELERY_TASK_ALWAYS_EAGER is False
    dataset = Dataset.objects.create(name="distributed", source=Dataset.Source.VAS, root="datasets/d")
    for i, split in enumerate(["train", "train", "val", "test"]):
        Clip.objects.create(dataset=dataset, clip_id=f"video_{i:05d}", category="dog", split=split)

    result = tasks.dataset_refresh_stats.delay(dataset.id)
    try:
        returned = result.get(timeout=120)
    except Exception:
        pytest.fail(f"the worker did not run the task; its output:\n{_stop(worker)[-4000:]}")

    assert returned["by_split"] == {"test": 1, "train": 2, "val": 1}
    dataset.refresh_from_db()
    assert dataset.stats["clips"] == 4, "the worker's write is visible in PostgreSQL"
    assert worker.poll() is None, "the worker is a separate, still-running process"
    # The result travelled through the broker's result backend, not an in-process call.
    assert result.backend.__class__.__name__ == "RedisBackend"
    deadline = time.monotonic() + 5
    while result.state != "SUCCESS" and time.monotonic() < deadline:
        time.sleep(0.1)
    assert result.state == "SUCCESS"


def test_an_import_runs_on_a_cpu_worker_and_the_command_follows_its_progress(worker, capsys):
    call_command(
        "make_synthvas",
        "--clips-per-category",
        "2",
        "--seconds",
        "1.2",
        "--categories",
        "gun",
        "--workers",
        "1",
        "--name",
        "via-worker",
    )
    out = capsys.readouterr().out
    assert "Queued on the cpu queue" in out
    dataset = Dataset.objects.get(name="via-worker")
    assert dataset.status == Status.SUCCEEDED, dataset.error
    assert dataset.task_id and dataset.stats["clips"] == 2
    clip = dataset.clips.first()
    assert (settings.MEDIA_ROOT / clip.video.name).is_file(), "the worker wrote into the shared media folder"


def test_the_protocol_runs_across_a_gpu_worker_and_a_cpu_worker(gpu_and_cpu_workers, capsys):
    gpu, cpu = gpu_and_cpu_workers
    small_trained_dataset("dist")
    assert "Queued on the gpu queue" in capsys.readouterr().out
    call_command(
        "generate",
        "--dataset",
        "dist",
        "--no-variants",
        "--realism",
        "2",
        "--timbre-references",
        "2",
        "--timbre-videos",
        "1",
        "--ablation-pairs",
        "1",
    )
    run = GenerationRun.objects.get()
    assert run.status == Status.SUCCEEDED, run.error
    assert not Sample.objects.filter(run=run).exclude(status=Status.SUCCEEDED).exists()
    assert Sample.objects.filter(run=run, task="alignment").exclude(video="").count() == 6
    assert run.summary["metrics"]["timbre"]["cosine"]["proposed"]["Average"]["n"] == 2
    assert gpu.poll() is None and cpu.poll() is None, "both workers are still up"


def test_a_study_is_prepared_on_a_cpu_worker_and_beat_syncs_through_the_broker(worker):
    """Studies on the deployed topology: check media built by the cpu worker (espeak-ng, ffmpeg), and
    beat's entry task routed to the default queue."""
    from studies.models import Study
    from studies.services.studies import study_create
    from studies.tasks import mturk_sync_all
    from tests.studies.factories import finished_run

    run = finished_run(categories=("dog",), clips=2, name="distributed-study")
    study = study_create(run=run, kind="alignment")  # transaction=True: the task is sent on commit
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        study.refresh_from_db()
        if study.state != Study.State.PREPARING:
            break
        time.sleep(0.5)
    assert study.state == Study.State.DRAFT, study.message or _stop(worker)[-4000:]
    assert study.stimuli.filter(role="trap").count() == 3
    assert mturk_sync_all.delay().get(timeout=60) == {"studies": []}


PROTOCOL_ARGS = ["--no-variants", "--realism", "2", "--timbre-references", "2", "--timbre-videos", "1",
                 "--ablation-pairs", "1"]  # fmt: skip
# Per (task, system) for the one-category small dataset and the protocol above.
EXPECTED = {
    ("realism", "ground_truth"): 2, ("realism", "baseline"): 2, ("realism", "proposed"): 2,
    ("alignment", "ground_truth"): 2, ("alignment", "baseline"): 2, ("alignment", "proposed"): 2,
    ("timbre", "ground_truth"): 2, ("timbre", "baseline"): 2, ("timbre", "proposed"): 2,
    ("ablation", "ground_truth"): 1, ("ablation", "proposed"): 1,
}  # fmt: skip


def _pool_children(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def _wait_for_a_running_batch(run_id: int, timeout_s: float = 240) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if Sample.objects.filter(run_id=run_id, status=Status.RUNNING).exclude(task="alignment").exists():
            return
        time.sleep(0.05)
    pytest.fail("no generation batch started")


def _wait_for_the_run(run_id: int, timeout_s: float) -> GenerationRun:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        run = GenerationRun.objects.get(pk=run_id)
        if run.is_finished:
            return run
        time.sleep(0.5)
    pytest.fail(f"the run did not finish in {timeout_s} s: {GenerationRun.objects.get(pk=run_id).message}")


def _assert_exactly_the_expected_samples(run: GenerationRun) -> None:
    assert run.status == Status.SUCCEEDED, run.error
    samples = Sample.objects.filter(run=run)
    assert not samples.exclude(status=Status.SUCCEEDED).exists()
    found = {key: samples.filter(task=key[0], system=key[1]).count() for key in EXPECTED}
    assert found == EXPECTED, "every sample exactly once"
    assert samples.count() == sum(EXPECTED.values())


def test_a_worker_killed_in_the_middle_of_a_batch_leaves_the_run_complete_and_exact(tmp_path, settings):
    """SIGKILL the pool process running a generation batch: the worker sees it lost, the message goes
    back to Redis (acks late + reject on worker lost), the batch runs again, and the run finishes with
    exactly the expected samples."""
    _services_or_skip()
    settings.VAR_DIR = tmp_path / "var"
    gpu = _start_worker("gpu", "gpu", tmp_path / "var")
    cpu = _start_worker("cpu,default", "cpu", tmp_path / "var")
    try:
        small_trained_dataset("kill")
        call_command("generate", "--dataset", "kill", "--no-wait", *PROTOCOL_ARGS)
        run = GenerationRun.objects.get()
        _wait_for_a_running_batch(run.pk)
        children = _pool_children(gpu.pid)
        assert children, "the gpu worker has a pool process"
        for child in children:
            os.kill(child, signal.SIGKILL)
        run = _wait_for_the_run(run.pk, 300)
        _assert_exactly_the_expected_samples(run)
        assert gpu.poll() is None, "the worker itself survived and replaced its pool process"
    finally:
        logs = _stop(gpu) + _stop(cpu)
    assert "WorkerLostError" in logs or "signal 9" in logs, "the kill happened during a task"


def test_a_whole_worker_killed_mid_batch_is_replaced_and_the_run_completes_once(tmp_path, settings):
    """SIGKILL the whole gpu worker (main process and pool) mid-batch, then start another: Redis hands
    the unacknowledged batch to it after the visibility timeout, and the run completes exactly once."""
    _services_or_skip()
    settings.VAR_DIR = tmp_path / "var"
    quick = {"CELERY_VISIBILITY_TIMEOUT": "45"}
    first = _start_worker("gpu", "gpu", tmp_path / "var", **quick)
    cpu = _start_worker("cpu,default", "cpu", tmp_path / "var", **quick)
    second = None
    try:
        small_trained_dataset("killall")
        call_command("generate", "--dataset", "killall", "--no-wait", *PROTOCOL_ARGS)
        run = GenerationRun.objects.get()
        _wait_for_a_running_batch(run.pk)
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()
        second = _start_worker("gpu", "gpu2", tmp_path / "var", **quick)
        run = _wait_for_the_run(run.pk, 420)
        _assert_exactly_the_expected_samples(run)
    finally:
        _stop(cpu)
        if second is not None:
            _stop(second)


# --- a system made elsewhere, imported on the deployed topology ------------------------------------

# An imported system has one sample per pair: an output for each realism, timbre and ablation pair,
# and the alignment pairs carry the realism outputs.
IMPORTED = {"realism": 2, "alignment": 2, "timbre": 2, "ablation": 1}


def _finished_run_and_outputs(name: str, tmp_path: Path) -> tuple[GenerationRun, Path]:
    """A run finished on the workers, its pack exported, and one output per pair made from the pack by
    examples/onset_foley.py, a program outside the platform (so: its own process)."""
    small_trained_dataset(name)
    call_command("generate", "--dataset", name, *PROTOCOL_ARGS)
    run = GenerationRun.objects.get()
    assert run.status == Status.SUCCEEDED, run.error
    pack, outputs = tmp_path / "pack", tmp_path / "outputs"
    call_command("export_inputs", "--run", str(run.pk), "-o", str(pack), stdout=StringIO())
    program = REPO / "examples" / "onset_foley.py"
    subprocess.run([sys.executable, str(program), str(pack), str(outputs)], check=True, capture_output=True)
    return run, outputs


def _wait_for_the_import(import_id: int, timeout_s: float) -> SystemImport:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        row = SystemImport.objects.get(pk=import_id)
        if row.is_finished:
            return row
        time.sleep(0.5)
    row = SystemImport.objects.get(pk=import_id)
    pytest.fail(f"the import did not finish in {timeout_s} s: {row.status} {row.message}")


def _assert_one_imported_system(run: GenerationRun, key: str) -> None:
    run.refresh_from_db()
    assert [s["key"] for s in run.spec["systems"]].count(key) == 1, "the system joined the run once"
    samples = Sample.objects.filter(run=run, system=key)
    unfinished = samples.exclude(status=Status.SUCCEEDED)
    assert not unfinished.exists(), list(unfinished.values_list("task", "status", "error"))
    assert {task: samples.filter(task=task).count() for task in IMPORTED} == IMPORTED
    assert samples.count() == sum(IMPORTED.values())
    assert samples.values("pair").distinct().count() == samples.count(), "every sample exactly once"
    assert run.summary["metrics"]["timbre"]["cosine"][key]["Average"]["n"] == IMPORTED["timbre"]


def test_an_import_runs_as_a_cpu_task_on_a_worker(gpu_and_cpu_workers, tmp_path):
    gpu, cpu = gpu_and_cpu_workers
    run, outputs = _finished_run_and_outputs("dimport", tmp_path)
    out = StringIO()
    call_command("import_outputs", "--run", str(run.pk), "--system", "foley", str(outputs), stdout=out)

    row = SystemImport.objects.get()
    assert row.status == Status.SUCCEEDED and row.imported == 5, row.error
    assert f"import #{row.pk}: imported 5 outputs" in out.getvalue()
    assert f"cpu.system_import[{row.task_id}] succeeded" in cpu.log_path.read_text(errors="replace")
    assert "Task cpu.system_import[" not in gpu.log_path.read_text(errors="replace"), "routed to cpu"
    _assert_one_imported_system(run, "foley")
    assert not row.quarantine and not any(Path(default_storage.path(QUARANTINE)).glob("*"))
    assert gpu.poll() is None and cpu.poll() is None


def _import_killed_once_its_samples_exist(run: GenerationRun, outputs: Path, key: str, cpu) -> tuple:
    """Queue an import and SIGKILL the cpu worker's pool process once the new system's Sample rows
    exist (files stored, metrics under way): the state a redelivered task must not double. Returns
    the row as it was when killed and the row once finished; the first is None if the import
    finished before it could be killed."""
    row = services.system_import_create(run=run, system_key=key, path=outputs)
    services.system_import_launch(system_import=row)  # sent on commit: at once, outside a transaction
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        row.refresh_from_db()
        if row.is_finished:
            return None, row
        if row.status == Status.RUNNING and Sample.objects.filter(run=run, system=key).exists():
            children = _pool_children(cpu.pid)
            assert children, "the cpu worker has a pool process"
            for child in children:
                os.kill(child, signal.SIGKILL)
            return row, _wait_for_the_import(row.pk, 300)
        time.sleep(0.05)
    pytest.fail(f"import {key!r} never wrote its samples: {row.status} {row.message}")


def test_a_worker_killed_mid_import_leaves_exactly_one_set_of_samples(gpu_and_cpu_workers, tmp_path):
    """SIGKILL the pool process running an import after it wrote its Sample rows: late acks put the
    task back, it starts over from the quarantine copy, and the run ends with one set of samples."""
    _, cpu = gpu_and_cpu_workers
    run, outputs = _finished_run_and_outputs("dkill", tmp_path)
    missed = []
    for key in ("foley", "foley-2", "foley-3"):  # a new name each time: a finished import keeps its own
        killed, row = _import_killed_once_its_samples_exist(run, outputs, key, cpu)
        # Landed mid-task: the redelivered task started the job again.
        if killed is not None and row.started_at > killed.started_at:
            break
        missed.append(f"{key}: {row.status} {row.message!r}")
    else:
        pytest.fail(f"every import finished before the kill could land in it: {missed}")

    assert row.status == Status.SUCCEEDED, f"killed at {killed.message!r}: {row.message} {row.error}"
    assert row.imported == 5
    _assert_one_imported_system(run, key)
    assert not row.quarantine and not any(Path(default_storage.path(QUARANTINE)).glob("*"))
    assert cpu.poll() is None, "the worker itself survived and replaced its pool process"
    assert "WorkerLostError" in cpu.log_path.read_text(errors="replace")
