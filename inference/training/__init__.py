"""Training both systems: typed configs from YAML, losses, data, and the one training loop.

- ``load_train_config(name_or_path, overrides=...)`` -> ``TrainConfig``; presets ``varietysound_paper``,
  ``varietysound_tiny``, ``cascade_paper``, ``cascade_tiny`` (``preset_names()``);
- ``ClipExample(clip_id, category, features_path, mel_path)``: what the caller trains on;
- ``train(config, train_examples, val_examples, out_dir, progress=..., should_stop=..., device=...)``
  -> ``TrainResult``.

Nothing here imports Django.
"""

from inference.training.config import PRESETS, SYSTEMS, TrainConfig, load_train_config, preset_names
from inference.training.data import ClipExample, DataError, dataset_fingerprint
from inference.training.run_log import TrainingError, TrainProgress
from inference.training.trainer import TrainResult, train

__all__ = [
    "PRESETS",
    "SYSTEMS",
    "ClipExample",
    "DataError",
    "TrainConfig",
    "TrainProgress",
    "TrainResult",
    "TrainingError",
    "dataset_fingerprint",
    "load_train_config",
    "preset_names",
    "train",
]
