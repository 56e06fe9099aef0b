"""One interface for a system: the registry of kinds, and a new architecture added as one file."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from inference.systems import SYSTEM_KINDS, generating_kinds, system_kind, trainable_kinds

REPO = Path(__file__).resolve().parents[2]


def test_the_registry_holds_the_papers_two_systems_and_the_imported_kind():
    assert list(SYSTEM_KINDS)[:2] == ["varietysound", "cascade"] and "imported" in SYSTEM_KINDS
    assert [k.name for k in generating_kinds()] == ["varietysound", "cascade"]
    assert [k.name for k in trainable_kinds()] == ["varietysound", "cascade"]
    imported = system_kind("imported")
    assert not imported.generates and imported.output == "none" and not imported.variants
    assert system_kind("varietysound").consumes == {"video_features", "reference_mel", "background_mel"}
    assert "background_mel" not in system_kind("cascade").consumes
    assert list(system_kind("cascade").variants) == ["proposed"]
    with pytest.raises(ValueError, match="unknown system kind 'nonesuch'"):
        system_kind("nonesuch")


def test_listing_the_kinds_imports_no_torch():
    code = "import sys, inference.systems as s; print(len(s.SYSTEM_KINDS)); assert 'torch' not in sys.modules"
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_the_cascade_refuses_the_variants_it_does_not_have():
    import torch

    from inference.models import build_model, generate

    model = build_model("cascade", _tiny("cascade"))
    with pytest.raises(ValueError, match="unknown variant 'without_timbre': cascade has proposed"):
        generate(model, torch.zeros(2, 2048), torch.zeros(80, 8), variant="without_timbre")
    with pytest.raises(ValueError, match="takes no background"):
        generate(model, torch.zeros(2, 2048), torch.zeros(80, 8), background_mel=torch.zeros(80, 8))


def _tiny(kind: str):
    from inference.training.config import load_train_config

    return load_train_config(f"{kind}_tiny").model


TOY = '''
"""A toy waveform system: the whole architecture in one file, registered by being here."""
from __future__ import annotations

from dataclasses import dataclass

from inference.systems.base import SystemKind


@dataclass(frozen=True)
class ToyWaveConfig:
    hop: int = 1024  # waveform samples per video frame (4 mel frames x 256)


_CLASS = []


def _network():
    if _CLASS:
        return _CLASS[0]
    import torch
    from torch import nn

    class ToyWave(nn.Module):
        def __init__(self, config: ToyWaveConfig) -> None:
            super().__init__()
            self.config = config
            self.gain = nn.Linear(2048, 1)

        def forward(self, video, reference):  # (B, T, 2048) -> (B, T * hop): a click per moving frame
            level = torch.sigmoid(self.gain(video)).squeeze(-1)  # (B, T)
            t = torch.arange(self.config.hop, device=video.device) / 22050
            tone = torch.sin(2 * torch.pi * 440 * t)  # (hop,)
            return 0.5 * (level.unsqueeze(-1) * tone).flatten(1)

    _CLASS.append(ToyWave)
    return ToyWave


class ToyWaveKind(SystemKind):
    name = "toywave"
    label = "toy waveform system"
    output = "waveform"
    consumes = frozenset({"video_features"})
    timbre_blind = True

    def network(self):
        return _network(), ToyWaveConfig

    def forward(self, model, video, reference, background, *, variant, generator):
        return model(video, reference)

    @property
    def trainable(self) -> bool:
        return False


KIND = ToyWaveKind()
'''

SCRIPT = """
import numpy as np, soundfile as sf, torch
from pathlib import Path
from inference.models import build_model, save_checkpoint, checkpoint_sha256, KINDS
from inference.generate import GenerationItem, GenerationJob, ModelCache, run_job
from inference.systems import SYSTEM_KINDS

assert "toywave" in SYSTEM_KINDS and "toywave" in KINDS
out = Path("{out}")
model = build_model("toywave", {{"hop": 1024}})
ckpt = save_checkpoint(out / "toy.pt", kind="toywave", model=model, step=1)
np.save(out / "features.npy", np.ones((8, 2048), dtype=np.float32))
np.save(out / "ref.npy", np.zeros((80, 32), dtype=np.float32))
item = GenerationItem("1", str(out / "features.npy"), str(out / "ref.npy"), str(out / "x.wav"), str(out / "x.npy"))
cache = ModelCache("cpu")
report = run_job(GenerationJob("toy", (item,), str(ckpt), checkpoint_sha256(ckpt)), cache)
assert report.outcomes[0].ok, report.outcomes
assert cache._vocoder is None, "a waveform system must not load the vocoder"
wave, rate = sf.read(out / "x.wav")
assert rate == 22050 and len(wave) == 8 * 1024, (rate, len(wave))
assert np.load(out / "x.npy").shape[0] == 80
print("ok")
"""


def test_a_new_architecture_is_one_file_in_inference_systems_and_generates_waveforms_without_the_vocoder(
    tmp_path,
):
    """Copy the package, drop one module into inference/systems/, and the checkpoint format, the
    loader, the model cache and the generation job take it, with no other edit."""
    tree = tmp_path / "tree"
    shutil.copytree(REPO / "inference", tree / "inference", ignore=shutil.ignore_patterns("__pycache__"))
    (tree / "inference" / "systems" / "toywave.py").write_text(textwrap.dedent(TOY))
    out = tmp_path / "out"
    out.mkdir()
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT.format(out=out)],
        cwd=tree,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(tree), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
        timeout=300,
    )
    assert result.returncode == 0 and result.stdout.strip().endswith("ok"), result.stderr[-3000:]
