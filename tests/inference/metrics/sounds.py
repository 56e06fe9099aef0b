"""Sounds for the metric tests: SynthVAS renderings with chosen timbres and events, and plain signals."""

from __future__ import annotations

import numpy as np

from inference.data.synth_events import Event, sample_events
from inference.data.synth_sounds import Timbre, sample_timbre, synthesize

SR = 22050


def render(
    category: str, timbre: Timbre, event_seed: int, seconds: float = 3.0
) -> tuple[np.ndarray, list[Event]]:
    """One SynthVAS-style clip: ``timbre`` decides the source, ``event_seed`` when it sounds."""
    rng = np.random.default_rng(event_seed)
    events = sample_events(category, duration_s=seconds, fps=21.5, event_s=tuple(timbre["event_s"]), rng=rng)
    wave = synthesize(
        category,
        timbre,
        events,
        duration_s=seconds,
        sample_rate=SR,
        background_dbfs=-50.0,
        background_exponent=-1.0,
        rng=rng,
    )
    return wave, events


def timbre(category: str, seed: int) -> Timbre:
    return sample_timbre(category, np.random.default_rng(seed))


def clicks(times: list[float], seconds: float = 5.0, noise: float = 0.0, seed: int = 0) -> np.ndarray:
    """Short decaying noise bursts (5 ms decay) starting exactly at ``times``."""
    rng = np.random.default_rng(seed)
    wave = np.zeros(round(seconds * SR))
    length = round(0.03 * SR)
    decay = np.exp(-np.arange(length) / (0.005 * SR))
    for t in times:
        start = round(t * SR)
        wave[start : start + length] += 0.5 * rng.normal(size=length) * decay
    return (wave + noise * rng.normal(size=wave.size)).astype(np.float32)


def tone(freq: float, seconds: float = 3.0, amplitude: float = 0.3) -> np.ndarray:
    t = np.arange(round(seconds * SR)) / SR
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)
