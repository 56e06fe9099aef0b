"""Checkpoints describe themselves, load only as weights, and refuse everything that is not ours."""

from __future__ import annotations

import os
import pickle
import zipfile
from pathlib import Path

import pytest
import torch

from inference.models import (
    CheckpointError,
    build_model,
    checkpoint_sha256,
    generate,
    load_checkpoint,
    save_checkpoint,
)
from inference.models.checkpoint import FORMAT
from inference.training.config import load_train_config


def tiny(kind: str) -> torch.nn.Module:
    torch.manual_seed(0)
    return build_model(kind, load_train_config(f"{kind}_tiny").model)


@pytest.fixture
def saved(tmp_path: Path) -> Path:
    return save_checkpoint(
        tmp_path / "vs.pt",
        kind="varietysound",
        model=tiny("varietysound"),
        step=7,
        data={"dataset_fingerprint": "abc"},
    )


@pytest.mark.parametrize("kind", ["varietysound", "cascade"])
def test_a_saved_model_loads_back_with_identical_outputs(tmp_path: Path, kind: str) -> None:
    model = tiny(kind).eval()
    path = save_checkpoint(
        tmp_path / f"{kind}.pt", kind=kind, model=model, step=3, data={"dataset_fingerprint": "f"}
    )
    loaded = load_checkpoint(path)
    assert (loaded.kind, loaded.step, loaded.data) == (kind, 3, {"dataset_fingerprint": "f"})
    assert loaded.config == model.config and not loaded.model.training
    video = torch.rand(2, 43, 2048, generator=torch.Generator().manual_seed(1))
    mel = torch.randn(2, 80, 172, generator=torch.Generator().manual_seed(2)) - 5
    assert torch.equal(generate(model, video, mel, seed=4), generate(loaded.model, video, mel, seed=4))


def test_the_file_is_plain_data_a_reader_can_inspect(saved: Path) -> None:
    payload = torch.load(saved, weights_only=True)
    assert payload["format"] == FORMAT and payload["kind"] == "varietysound" and payload["step"] == 7
    assert payload["config"]["acoustic"]["sgau_layers"] == 2  # the tiny preset's, as a plain dict
    assert "training" not in payload


def test_training_state_is_kept_apart_and_only_read_when_asked(tmp_path: Path) -> None:
    model = tiny("varietysound")
    optimizer = torch.optim.AdamW(model.parameters())
    model(torch.rand(1, 43, 2048), torch.randn(1, 80, 172)).mean().backward()
    optimizer.step()
    path = save_checkpoint(
        tmp_path / "t.pt",
        kind="varietysound",
        model=model,
        step=1,
        training={"optimizers": [optimizer.state_dict()]},
    )
    assert load_checkpoint(path).training is None
    restored = load_checkpoint(path, with_training=True).training
    assert restored is not None and restored["optimizers"][0]["state"]


def test_its_sha256_identifies_the_file(saved: Path, tmp_path: Path) -> None:
    digest = checkpoint_sha256(saved)
    assert len(digest) == 64 and digest == checkpoint_sha256(saved)
    copy = tmp_path / "copy.pt"
    copy.write_bytes(saved.read_bytes())
    assert checkpoint_sha256(copy) == digest


class RunsACommand:
    """What an attacker pickles: unpickling it calls ``os.system``."""

    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self) -> tuple:
        return (os.system, (self.command,))


def test_it_refuses_a_checkpoint_carrying_a_pickle_payload(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.pt"
    torch.save({"format": FORMAT, "kind": "varietysound", "payload": RunsACommand(f"touch {marker}")}, evil)
    with pytest.raises(CheckpointError, match=r"refused: .*system.*pickle payload can run code"):
        load_checkpoint(evil)
    assert not marker.exists(), "the payload must never run"


def test_it_refuses_a_raw_pickle_file_with_a_payload(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.pkl"
    evil.write_bytes(pickle.dumps(RunsACommand(f"touch {marker}")))
    with pytest.raises(CheckpointError):
        load_checkpoint(evil)
    assert not marker.exists()


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "empty"),
        (b"\x00\x01 certainly not a checkpoint\n" * 10, "not a PyTorch checkpoint"),
    ],
)
def test_it_refuses_files_that_are_not_torch_files(tmp_path: Path, content: bytes, reason: str) -> None:
    path = tmp_path / "x.pt"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match=reason):
        load_checkpoint(path)


def test_it_refuses_a_zip_that_is_not_a_torch_file(tmp_path: Path) -> None:
    path = tmp_path / "x.pt"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("readme.txt", "hello")
    with pytest.raises(CheckpointError, match="not a PyTorch checkpoint"):
        load_checkpoint(path)


def test_it_refuses_a_bare_state_dict(tmp_path: Path) -> None:
    path = tmp_path / "state.pt"
    torch.save(tiny("varietysound").state_dict(), path)
    with pytest.raises(CheckpointError, match="bare state dict"):
        load_checkpoint(path)


def test_it_refuses_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="no such file"):
        load_checkpoint(tmp_path / "nope.pt")


def edited(saved: Path, tmp_path: Path, **changes: object) -> Path:
    payload = torch.load(saved, weights_only=True)
    for key, value in changes.items():
        if value is None:
            del payload[key]
        else:
            payload[key] = value
    path = tmp_path / "edited.pt"
    torch.save(payload, path)
    return path


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"format": "someone-else/3"}, "unknown checkpoint format"),
        ({"kind": "wavenet"}, "unknown model kind"),
        ({"config": None}, "missing keys"),
        ({"step": -1}, "step"),
        ({"config": {"acoustic": {"sgau_layer": 5}}}, "sgau_layer: unknown key"),
    ],
)
def test_it_refuses_a_checkpoint_that_does_not_describe_itself(
    saved: Path, tmp_path: Path, changes: dict, reason: str
) -> None:
    with pytest.raises(CheckpointError, match=reason):
        load_checkpoint(edited(saved, tmp_path, **changes))


def test_it_refuses_weights_of_another_architecture(saved: Path, tmp_path: Path) -> None:
    paper_config = build_model("varietysound").config  # type: ignore[union-attr]
    from inference.models.config_io import to_dict

    with pytest.raises(CheckpointError, match="do not fit"):
        load_checkpoint(edited(saved, tmp_path, config=to_dict(paper_config)))


def test_it_refuses_nan_weights(saved: Path, tmp_path: Path) -> None:
    state = torch.load(saved, weights_only=True)["state"]
    name = next(k for k, v in state.items() if v.is_floating_point())
    state[name] = torch.full_like(state[name], float("nan"))
    with pytest.raises(CheckpointError, match="NaN"):
        load_checkpoint(edited(saved, tmp_path, state=state))
