"""Training configs: typed dataclasses from YAML presets, with errors that name the bad key."""

from __future__ import annotations

from pathlib import Path

import pytest

from inference.models import CascadeConfig, ConfigError, VarietySoundConfig
from inference.training.config import (
    CascadeLosses,
    VarietySoundLosses,
    config_to_dict,
    load_train_config,
    preset_names,
    replace,
    train_config_from_dict,
)


def test_there_is_a_paper_and_a_tiny_preset_for_each_system() -> None:
    assert preset_names() == ["cascade_paper", "cascade_tiny", "varietysound_paper", "varietysound_tiny"]


def test_the_paper_preset_is_table_3_with_batch_48() -> None:
    config = load_train_config("varietysound_paper")
    assert isinstance(config.model, VarietySoundConfig) and isinstance(config.losses, VarietySoundLosses)
    assert config.model == VarietySoundConfig(), "the dataclass defaults are the paper's sizes"
    assert config.data.batch_size == 48
    assert (config.losses.lambda_mel, config.losses.lambda_adv) == (10000.0, 1.0)
    generator = config.optim.generator
    assert (generator.name, generator.betas, generator.eps) == ("adamw", (0.5, 0.999), 1e-8)
    assert config.optim.epochs == 500


def test_the_cascade_presets_use_each_stages_official_optimiser() -> None:
    config = load_train_config("cascade_paper")
    assert isinstance(config.model, CascadeConfig) and isinstance(config.losses, CascadeLosses)
    assert config.model == CascadeConfig()
    assert (config.optim.generator.name, config.optim.generator.lr, config.optim.generator.betas) == (
        "adam",
        2e-4,
        (0.5, 0.999),
    )
    assert (config.optim.converter.lr, config.optim.converter.betas) == (1e-4, (0.9, 0.999))


def test_an_unknown_key_is_named_with_its_path(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("system: varietysound\nmodel:\n  acoustic:\n    sgau_layer: 4\n")
    with pytest.raises(ConfigError, match=r"bad.yaml: model\.acoustic\.sgau_layer: unknown key"):
        load_train_config(path)


def test_a_wrong_type_is_named_with_its_path() -> None:
    with pytest.raises(ConfigError, match=r"data\.batch_size: expected an integer"):
        load_train_config("varietysound_tiny", overrides={"data": {"batch_size": "many"}})


def test_a_key_of_the_other_system_is_refused() -> None:
    with pytest.raises(ConfigError, match="converter"):
        train_config_from_dict({"system": "varietysound", "model": {"converter": {}}})


def test_an_unknown_system_or_preset_is_refused() -> None:
    with pytest.raises(ConfigError, match="system"):
        train_config_from_dict({"system": "wavenet"})
    with pytest.raises(ConfigError, match="unknown preset"):
        load_train_config("varietysound_huge")


def test_exactly_one_of_epochs_and_max_steps_is_set() -> None:
    with pytest.raises(ConfigError, match="exactly one of epochs and max_steps"):
        load_train_config("varietysound_tiny", overrides={"optim": {"epochs": 3}})
    config = load_train_config("varietysound_paper", overrides={"optim": {"epochs": None, "max_steps": 10}})
    assert config.optim.total_steps(steps_per_epoch=99) == 10
    assert load_train_config("varietysound_paper").optim.total_steps(steps_per_epoch=30) == 15000


def test_a_crop_shorter_than_the_mel_discriminators_window_is_refused() -> None:
    with pytest.raises(ConfigError, match="window"):
        load_train_config("varietysound_tiny", overrides={"data": {"crop_video_frames": 16}})


def test_configs_survive_a_round_trip_through_plain_dicts() -> None:
    for name in preset_names():
        config = load_train_config(name)
        assert train_config_from_dict(config_to_dict(config)) == config


def test_ablation_switches_are_ordinary_config_values() -> None:
    config = load_train_config("varietysound_tiny")
    without_tdad = replace(config, losses=VarietySoundLosses(alignment_discriminator=False))
    assert not without_tdad.losses.alignment_discriminator  # type: ignore[union-attr]
