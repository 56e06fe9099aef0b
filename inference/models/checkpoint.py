"""Self-describing checkpoints, and the one loader that trusts nothing in them.

A checkpoint is a ``torch.save`` of a plain dict::

    {"format": "varietysound-eval/1", "kind": "varietysound" | "cascade",
     "config": {...model config as plain dicts...}, "state": {name: tensor},
     "step": int, "data": {"dataset_fingerprint": ..., ...},
     "training": {...optional: discriminators, optimizers, schedulers, RNG, train config...}}

``load_checkpoint`` reads it with ``torch.load(weights_only=True)`` only: tensors and plain containers
load, anything else (a pickled object whose ``__reduce__`` would run code) is refused before it is
built. It then rebuilds the network from ``kind`` + ``config`` and loads ``state`` strictly. Every way a
file can fail to be one of ours raises ``CheckpointError`` naming the file and the reason: not a torch
file, a pickle payload, a bare state dict, an unknown format or kind, missing keys, a config that
does not parse, weights of another architecture, NaN or infinite weights. ``training`` is for
resuming; inference never looks at it unless asked (``with_training=True``).

Memory stays bounded by the file's size: compressed zip records are refused (``torch.save`` never
writes them, and one can inflate a thousandfold), and the network a config describes is first built
on the meta device and compared with the stored weights, so a config claiming a huge network is
refused before anything is allocated.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import threading
import warnings
import zipfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn.modules import module as module_hooks

from inference.models.config_io import ConfigError, from_dict, to_dict
from inference.models.kinds import KINDS

FORMAT = "varietysound-eval/1"
REQUIRED_KEYS = ("format", "kind", "config", "state", "step", "data")


class CheckpointError(ValueError):
    """The file is not a usable checkpoint of ours; ``reason`` says why."""

    def __init__(self, path: str | Path, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


@dataclass(frozen=True)
class Checkpoint:
    path: Path
    kind: str
    config: Any  # the kind's config dataclass
    model: nn.Module  # in eval mode, on map_location
    step: int
    data: dict[str, Any]
    training: dict[str, Any] | None  # only with load_checkpoint(..., with_training=True)


def save_checkpoint(
    path: str | Path,
    *,
    kind: str,
    model: nn.Module,
    step: int,
    data: Mapping[str, Any] | None = None,
    training: Mapping[str, Any] | None = None,
) -> Path:
    """Write ``model`` (which carries its ``config``) atomically: a reader never sees half a file."""
    if kind not in KINDS:
        raise ValueError(f"unknown model kind {kind!r}")
    config = getattr(model, "config", None)
    if not isinstance(config, KINDS[kind].config):
        raise TypeError(f"a {kind} checkpoint needs a model whose .config is a {KINDS[kind].config.__name__}")
    payload: dict[str, Any] = {
        "format": FORMAT,
        "kind": kind,
        "config": to_dict(config),
        "state": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "step": int(step),
        "data": dict(data or {}),
    }
    if training is not None:
        payload["training"] = dict(training)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        torch.save(payload, tmp)
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return path


def read_payload(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """The checkpoint dict, loaded safely and checked for shape (not yet for fit to a network)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(path, "no such file")
    if path.stat().st_size == 0:
        raise CheckpointError(path, "the file is empty")
    _refuse_compressed_records(path)
    try:
        with warnings.catch_warnings():  # torch warns about pickle protocols while refusing them anyway
            warnings.simplefilter("ignore", UserWarning)
            payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # torch raises many types for foreign files; all mean "not ours"
        message = " ".join(str(exc).split())
        blocked = re.search(r"GLOBAL (\S+)", message)
        if blocked:
            raise CheckpointError(
                path,
                f"refused: it asks to build the Python object {blocked.group(1)!r}; a pickle payload can run "
                "code when loaded, so only tensors and plain containers are accepted",
            ) from None
        detail = message.split("WeightsUnpickler error:")[-1].split(" Check the documentation")[0].strip()
        raise CheckpointError(
            path, f"not a PyTorch checkpoint ({type(exc).__name__}: {detail[:200]})"
        ) from None
    if not isinstance(payload, dict):
        raise CheckpointError(path, f"expected a checkpoint dict, found a {type(payload).__name__}")
    if payload and all(isinstance(v, Tensor) for v in payload.values()):
        raise CheckpointError(
            path, "a bare state dict, not a varietysound-eval checkpoint (it lacks format, kind and config)"
        )
    missing = [key for key in REQUIRED_KEYS if key not in payload]
    if missing:
        raise CheckpointError(path, f"not a varietysound-eval checkpoint: missing keys {missing}")
    if payload["format"] != FORMAT:
        raise CheckpointError(
            path, f"unknown checkpoint format {payload['format']!r} (this code reads {FORMAT!r})"
        )
    if payload["kind"] not in KINDS:
        raise CheckpointError(path, f"unknown model kind {payload['kind']!r} (known: {', '.join(KINDS)})")
    state = payload["state"]
    if not isinstance(state, dict) or not all(
        isinstance(k, str) and isinstance(v, Tensor) for k, v in state.items()
    ):
        raise CheckpointError(path, "'state' must map parameter names to tensors")
    if isinstance(payload["step"], bool) or not isinstance(payload["step"], int) or payload["step"] < 0:
        raise CheckpointError(path, f"'step' must be a non-negative integer, not {payload['step']!r}")
    if not isinstance(payload["config"], dict) or not isinstance(payload["data"], dict):
        raise CheckpointError(path, "'config' and 'data' must be dicts")
    if "training" in payload and not isinstance(payload["training"], dict):
        raise CheckpointError(path, "'training' must be a dict")
    for name, tensor in state.items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise CheckpointError(path, f"weight {name!r} holds NaN or infinite values")
    return payload


def load_checkpoint(
    path: str | Path, map_location: str | torch.device = "cpu", *, with_training: bool = False
) -> Checkpoint:
    """Rebuild the network a checkpoint describes, in eval mode; raise ``CheckpointError`` if it is not ours."""
    path = Path(path)
    payload = read_payload(path, map_location)
    kind = payload["kind"]
    try:
        config = from_dict(KINDS[kind].config, payload["config"], where="config")
    except ConfigError as exc:
        raise CheckpointError(path, f"its {kind} config does not parse: {exc}") from None
    _check_fit(path, kind, config, payload["state"])
    model = KINDS[kind].network(config)
    try:
        model.load_state_dict(payload["state"], strict=True)
    except RuntimeError as exc:
        detail = " ".join(str(exc).split())[:400]
        raise CheckpointError(path, f"its weights do not fit a {kind} of its own config: {detail}") from None
    model.to(map_location).eval()
    return Checkpoint(
        path=path,
        kind=kind,
        config=config,
        model=model,
        step=payload["step"],
        data=payload["data"],
        training=payload.get("training") if with_training else None,
    )


def _refuse_compressed_records(path: Path) -> None:
    """``torch.save`` stores zip records uncompressed; a deflated record could inflate to a thousand
    times the file's size when torch.load reads it, so a file that has one is not ours."""
    try:
        with zipfile.ZipFile(path) as archive:
            packed = [i.filename for i in archive.infolist() if i.compress_type != zipfile.ZIP_STORED]
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        return  # not a zip (or a broken one): torch.load reports it
    if packed:
        raise CheckpointError(
            path, f"refused: the record {packed[0]!r} is compressed (torch.save never compresses records)"
        )


@contextmanager
def _registration_budget(limit: int) -> Iterator[None]:
    """Abort building a network once it has registered more than ``limit`` modules, parameters and
    buffers in this thread: a config of a million layers would otherwise take minutes even on meta."""
    owner = threading.get_ident()
    count = 0

    def hook(*_: object) -> None:
        nonlocal count
        if threading.get_ident() != owner:
            return
        count += 1
        if count > limit:
            raise MemoryError(f"the network has more than {limit} modules and tensors")

    handles = [
        module_hooks.register_module_module_registration_hook(hook),
        module_hooks.register_module_parameter_registration_hook(hook),
        module_hooks.register_module_buffer_registration_hook(hook),
    ]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


def _check_fit(path: Path, kind: str, config: Any, state: dict[str, Tensor]) -> None:
    """Compare the stored weights with the network the config describes, built on the meta device
    (shapes, no memory). The state is bounded by the file's size; the config is not."""
    # A network that fits the state registers about one module or tensor per entry (1.1-1.7 for
    # ours); four per entry and some slack leave room without letting a config run away.
    try:
        with _registration_budget(4 * len(state) + 256), torch.device("meta"):
            skeleton = KINDS[kind].network(config)
    except (MemoryError, RuntimeError, ValueError, TypeError) as exc:
        raise CheckpointError(
            path, f"its {kind} config does not describe a network its weights fit: {exc}"
        ) from None
    expected = {name: tuple(t.shape) for name, t in skeleton.state_dict().items()}
    found = {name: tuple(t.shape) for name, t in state.items()}
    if expected == found:
        return
    missing = sorted(set(expected) - set(found))
    unexpected = sorted(set(found) - set(expected))
    mismatched = [n for n in sorted(set(expected) & set(found)) if expected[n] != found[n]]
    details = []
    if missing:
        details.append(f"{len(missing)} missing (first {missing[0]!r})")
    if unexpected:
        details.append(f"{len(unexpected)} unexpected (first {unexpected[0]!r})")
    if mismatched:
        name = mismatched[0]
        details.append(
            f"{len(mismatched)} of another shape (first {name!r}: {found[name]} for {expected[name]})"
        )
    raise CheckpointError(path, f"its weights do not fit a {kind} of its own config: {'; '.join(details)}")


def checkpoint_sha256(path: str | Path) -> str:
    """Hex SHA-256 of the file's bytes: the identity workers cache loaded models by."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
