"""Shared set-up of the end-to-end tests: a small SynthVAS dataset and 1-step checkpoints."""

from __future__ import annotations

from django.core.management import call_command

from registry.models import Dataset


def small_trained_dataset(name: str) -> Dataset:
    """One category (dog) of 10 clips of 2.2 s, so 2 test clips, and both systems trained 1 step:
    enough for every set of the protocol at reduced counts. Runs wherever the tasks run (in-process
    or on workers)."""
    call_command(
        "make_synthvas", "--clips-per-category", "10", "--seconds", "2.2", "--categories", "dog",
        "--workers", "1", "--name", name,
    )  # fmt: skip
    for system in ("varietysound", "cascade"):
        call_command("train", "--system", system, "--dataset", name, "--steps", "1")
    return Dataset.objects.get(name=name)
