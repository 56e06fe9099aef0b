"""Training through the registry: runs, registered checkpoints, refused files."""

from __future__ import annotations

import hashlib
import pickle

import pytest
from django.core.management import CommandError, call_command

from registry.models import Checkpoint, Dataset, Status, TrainingRun

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _in_process(settings, tmp_path):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    settings.VAR_DIR = tmp_path / "var"


@pytest.fixture
def dataset() -> Dataset:
    call_command(
        "make_synthvas",
        "--clips-per-category",
        "3",
        "--seconds",
        "2.5",
        "--categories",
        "dog,hammer",
        "--workers",
        "1",
        "--name",
        "train-me",
    )
    return Dataset.objects.get(name="train-me")


@pytest.mark.parametrize("system", ["varietysound", "cascade"])
def test_training_registers_a_checkpoint_of_the_system(dataset, system, settings):
    call_command("train", "--system", system, "--preset", "tiny", "--dataset", dataset.name, "--steps", "3")
    run = TrainingRun.objects.get(system=system)
    assert run.status == Status.SUCCEEDED, run.error
    assert run.progress_done == 3 and run.metrics["losses"]
    assert run.config["resolved"]["system"] == system, "the resolved config is recorded with the run"
    checkpoint = run.checkpoints.get()
    assert checkpoint.kind == system and checkpoint.step == 3
    assert checkpoint.role == ("proposed" if system == "varietysound" else "baseline")
    stored = settings.MEDIA_ROOT / checkpoint.file.name
    assert hashlib.sha256(stored.read_bytes()).hexdigest() == checkpoint.sha256
    assert checkpoint.size_bytes == stored.stat().st_size


def test_a_discriminator_ablation_is_registered_as_an_ablation(dataset):
    call_command(
        "train",
        "--system",
        "varietysound",
        "--dataset",
        dataset.name,
        "--steps",
        "2",
        "--without",
        "alignment",
    )
    run = TrainingRun.objects.get()
    assert run.status == Status.SUCCEEDED, run.error
    assert run.checkpoints.get().role == "ablation"


def test_training_on_one_category_uses_only_its_clips(dataset):
    call_command(
        "train", "--system", "varietysound", "--dataset", dataset.name, "--category", "dog", "--steps", "1"
    )
    assert TrainingRun.objects.get().checkpoints.get().name.endswith("-dog-step1")


def test_it_refuses_to_train_on_an_unknown_category(dataset):
    with pytest.raises(CommandError, match="no category 'lion'"):
        call_command("train", "--system", "cascade", "--dataset", dataset.name, "--category", "lion")


def test_registering_the_same_checkpoint_twice_keeps_one_row(dataset):
    call_command("train", "--system", "varietysound", "--dataset", dataset.name, "--steps", "1")
    first = Checkpoint.objects.get()
    call_command("register_checkpoint", str(first.file.path), "--role", "proposed", "--name", "again")
    assert Checkpoint.objects.count() == 1


class _Payload:
    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        import os

        return (os.system, (f"touch {self.marker}",))


def test_it_refuses_a_checkpoint_carrying_a_pickle_payload(tmp_path):
    import torch

    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.pt"
    torch.save({"format": "varietysound-eval/1", "state": _Payload(str(marker))}, evil)
    with pytest.raises(CommandError, match="evil.pt"):
        call_command("register_checkpoint", str(evil), "--role", "proposed")
    assert not marker.exists(), "loading must never run code from the file"
    assert Checkpoint.objects.count() == 0


def test_it_refuses_a_file_that_is_not_a_checkpoint(tmp_path):
    junk = tmp_path / "junk.pt"
    junk.write_bytes(pickle.dumps([1, 2, 3]) + b"trailing junk")
    with pytest.raises(CommandError, match="junk.pt"):
        call_command("register_checkpoint", str(junk), "--role", "baseline")
