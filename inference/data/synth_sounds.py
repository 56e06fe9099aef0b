"""SynthVAS sounds: one small synthesiser per VAS category, driven by per-clip timbre parameters.

``sample_timbre`` draws the parameters that make one clip's source sound like itself (one dog's
pitch and vocal tract, one drum's size and damping) and ``synthesize`` renders any list of events
with them. Two clips with different parameters therefore differ in timbre, while two renderings with
the same parameters and different event times sound like the same source: the property the timbre
MOS and the Resemblyzer similarity of the paper measure (tests/inference/test_synthvas.py checks it).

Each event varies a little around the clip's parameters (a few percent of pitch and decay, random
noise and phases), as repeated barks of one dog do. The methods are textbook: harmonic sources
through formant resonators for voices (baby, dog, cough, sneeze), the mode ratios of an ideal
membrane (drum) and of a free bar (hammer), shaped noise for explosions (gun, fireworks).
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

import numpy as np
from scipy import signal

from inference.data.synth_events import Event

Timbre = dict[str, Any]

MEMBRANE_RATIOS = (1.0, 1.594, 2.136, 2.296, 2.653, 2.918)  # circular membrane modes (01, 11, 21, ...)
BAR_RATIOS = (1.0, 2.756, 5.404, 8.933)  # free-free bar


def _u(rng: np.random.Generator, lo: float, hi: float) -> float:
    return round(float(rng.uniform(lo, hi)), 4)


def sample_timbre(category: str, rng: np.random.Generator) -> Timbre:
    """Per-clip timbre parameters (JSON-serialisable); ``event_s`` is the range of event lengths."""
    if category == "baby":
        lo = _u(rng, 0.5, 0.8)
        return {
            "f0": _u(rng, 300, 560),
            "vibrato_hz": _u(rng, 4, 7),
            "vibrato_depth": _u(rng, 0.01, 0.04),
            "formants": sorted([_u(rng, 750, 1200), _u(rng, 1600, 2600), _u(rng, 2900, 3900)]),
            "rolloff": _u(rng, 0.9, 1.8),
            "breath": _u(rng, 0.02, 0.12),
            "event_s": [lo, lo + _u(rng, 0.3, 0.7)],
        }
    if category == "dog":
        lo = _u(rng, 0.15, 0.22)
        return {
            "f0": _u(rng, 170, 520),
            "glide": _u(rng, 0.6, 0.9),
            "formants": sorted([_u(rng, 400, 900), _u(rng, 1000, 2000), _u(rng, 2200, 3400)]),
            "roughness": _u(rng, 0.1, 0.5),
            "rolloff": _u(rng, 0.8, 1.5),
            "decay_s": _u(rng, 0.06, 0.15),
            "event_s": [lo, lo + _u(rng, 0.05, 0.15)],
        }
    if category == "cough":
        lo = _u(rng, 0.25, 0.35)
        return {
            "noise_exponent": _u(rng, -1.5, 0.0),
            "formants": sorted([_u(rng, 400, 900), _u(rng, 1200, 2400)]),
            "bandwidth": _u(rng, 150, 400),
            "voicing": _u(rng, 0.05, 0.35),
            "f0": _u(rng, 110, 260),
            "decay_s": _u(rng, 0.08, 0.2),
            "event_s": [lo, lo + _u(rng, 0.05, 0.2)],
        }
    if category == "drum":
        decay = _u(rng, 0.12, 0.5)
        amplitudes = rng.dirichlet(np.full(len(MEMBRANE_RATIOS), 0.8)) + 0.05
        return {
            "f0": round(float(np.exp(rng.uniform(np.log(55), np.log(260)))), 4),
            "decay_s": decay,
            "pitch_drop": _u(rng, 0.0, 0.06),
            "mode_amplitudes": [round(float(a), 4) for a in amplitudes],
            "click": _u(rng, 0.1, 0.6),
            "click_exponent": _u(rng, -1.0, 0.5),
            "shell_hz": round(float(np.exp(rng.uniform(np.log(300), np.log(3000)))), 4),
            "shell": _u(rng, 0.2, 0.8),
            "event_s": [min(max(3 * decay, 0.2), 2.0), min(max(4 * decay, 0.25), 2.2)],
        }
    if category == "fireworks":
        lo = _u(rng, 0.9, 1.3)
        return {
            "boom_cutoff": _u(rng, 150, 700),
            "boom_decay_s": _u(rng, 0.3, 0.9),
            "crackle_rate": _u(rng, 20, 150),
            "crackle_freq": _u(rng, 1800, 6000),
            "crackle_level": _u(rng, 0.2, 0.8),
            "event_s": [lo, lo + _u(rng, 0.2, 0.7)],
        }
    if category == "gun":
        lo = _u(rng, 0.4, 0.6)
        return {
            "noise_exponent": _u(rng, -1.5, 0.8),
            "decay_s": _u(rng, 0.02, 0.08),
            "thump_hz": _u(rng, 50, 120),
            "report_hz": round(float(np.exp(rng.uniform(np.log(250), np.log(4000)))), 4),
            "report": _u(rng, 0.3, 1.0),
            "thump_level": _u(rng, 0.3, 1.0),
            "tail_decay_s": _u(rng, 0.15, 0.5),
            "tail_level": _u(rng, 0.05, 0.25),
            "tail_cutoff": _u(rng, 1000, 4000),
            "event_s": [lo, lo + _u(rng, 0.1, 0.3)],
        }
    if category == "hammer":
        decay = _u(rng, 0.04, 0.25)
        amplitudes = rng.dirichlet(np.full(len(BAR_RATIOS), 1.0)) + 0.05
        lo = max(0.15, round(3 * decay, 4))
        return {
            "f0": _u(rng, 300, 1400),
            "stretch": _u(rng, 0.97, 1.05),
            "decay_s": decay,
            "mode_amplitudes": [round(float(a), 4) for a in amplitudes],
            "click": _u(rng, 0.2, 0.8),
            "click_exponent": _u(rng, -0.5, 1.0),
            "event_s": [lo, lo + 0.15],
        }
    if category == "sneeze":
        inhale = _u(rng, 0.15, 0.3)
        lo = round(inhale + _u(rng, 0.25, 0.35), 4)
        return {
            "f0": _u(rng, 180, 400),
            "formants": sorted([_u(rng, 600, 1000), _u(rng, 1000, 1800)]),
            "inhale_s": inhale,
            "burst_hz": _u(rng, 2500, 5000),
            "burst_bandwidth": _u(rng, 1000, 3000),
            "burst_decay_s": _u(rng, 0.08, 0.2),
            "event_s": [lo, lo + 0.15],
        }
    raise ValueError(f"unknown category {category!r}")


# ------------------------------------------------------------------------------------ building blocks


def coloured_noise(n: int, exponent: float, rng: np.random.Generator) -> np.ndarray:
    """Unit-RMS noise whose power spectrum goes as f**exponent (0 white, -1 pink, -2 brown)."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    freqs = np.arange(len(spectrum), dtype=np.float64)
    freqs[0] = 1.0
    noise = np.fft.irfft(spectrum * freqs ** (exponent / 2), n)
    return noise / (np.sqrt(np.mean(noise**2)) + 1e-12)


def resonators(x: np.ndarray, freqs: list[float], bandwidth: float | list[float], sr: int) -> np.ndarray:
    """Parallel two-pole resonators (formants, body modes), each normalised to unit peak gain."""
    widths = bandwidth if isinstance(bandwidth, list) else [bandwidth] * len(freqs)
    out = np.zeros_like(x)
    for i, (freq, width) in enumerate(zip(freqs, widths, strict=True)):
        r = np.exp(-np.pi * width / sr)
        theta = 2 * np.pi * min(freq, 0.45 * sr) / sr
        a = [1.0, -2 * r * np.cos(theta), r * r]
        out += signal.lfilter([1 - r], a, x) / (1 + i * 0.5)  # higher formants a little weaker
    return out


def harmonics(f0: np.ndarray, sr: int, rolloff: float, rng: np.random.Generator) -> np.ndarray:
    """A band-limited harmonic source following the pitch curve ``f0`` (Hz per sample)."""
    phase = 2 * np.pi * np.cumsum(f0) / sr + rng.uniform(0, 2 * np.pi)
    count = max(1, int(0.45 * sr / float(np.max(f0))))
    out = np.zeros_like(phase)
    for k in range(1, count + 1):
        out += np.sin(k * phase) / k**rolloff
    return out


def envelope(
    n: int, sr: int, *, attack_s: float, decay_s: float | None = None, release_s: float = 0.02
) -> np.ndarray:
    """Linear attack, exponential decay (or sustain), linear release into the event's offset."""
    t = np.arange(n) / sr
    env = np.minimum(t / max(attack_s, 1.0 / sr), 1.0)
    if decay_s is not None:
        env *= np.exp(-np.maximum(t - attack_s, 0.0) / decay_s)
    release = min(int(release_s * sr), n)
    if release > 0:
        env[n - release :] *= np.linspace(1.0, 0.0, release)
    return env


def _lowpass(x: np.ndarray, cutoff: float, sr: int) -> np.ndarray:
    b, a = signal.butter(2, min(cutoff, 0.45 * sr) / (sr / 2))
    return signal.lfilter(b, a, x)


def _bandpass(x: np.ndarray, centre: float, width: float, sr: int) -> np.ndarray:
    low = max(centre - width / 2, 50.0) / (sr / 2)
    high = min(centre + width / 2, 0.45 * sr) / (sr / 2)
    b, a = signal.butter(2, [low, high], btype="band")
    return signal.lfilter(b, a, x)


# ------------------------------------------------------------------------------------ one event each


def _baby(p: Timbre, n: int, sr: int, rng: np.random.Generator, j: float) -> np.ndarray:
    t = np.arange(n) / sr
    shape = np.sin(np.pi * np.minimum(t / (n / sr), 1.0))  # the cry rises then falls
    f0 = p["f0"] * j * (1 + 0.12 * shape) * (1 + p["vibrato_depth"] * np.sin(2 * np.pi * p["vibrato_hz"] * t))
    source = harmonics(f0, sr, p["rolloff"], rng) + p["breath"] * rng.standard_normal(n)
    return resonators(source, p["formants"], 120.0, sr) * envelope(n, sr, attack_s=0.02, release_s=0.08)


def _dog(p: Timbre, n: int, sr: int, rng: np.random.Generator, j: float) -> np.ndarray:
    t = np.arange(n) / sr
    f0 = p["f0"] * j * (1 - (1 - p["glide"]) * np.minimum(t / (n / sr), 1.0))
    source = harmonics(f0, sr, p["rolloff"], rng) + p["roughness"] * 3 * rng.standard_normal(n)
    env = envelope(n, sr, attack_s=0.005, decay_s=p["decay_s"] * j)
    return resonators(source, p["formants"], 150.0, sr) * env


def _cough(p: Timbre, n: int, sr: int, rng: np.random.Generator, j: float) -> np.ndarray:
    noise = coloured_noise(n, p["noise_exponent"], rng)
    voiced = harmonics(np.full(n, p["f0"] * j), sr, 1.2, rng)
    source = noise + p["voicing"] * 4 * voiced
    env = envelope(n, sr, attack_s=0.008, decay_s=p["decay_s"] * j)
    return resonators(source, [f * j for f in p["formants"]], p["bandwidth"], sr) * env


def _drum(p: Timbre, n: int, sr: int, rng: np.random.Generator, j: float) -> np.ndarray:
    t = np.arange(n) / sr
    out = np.zeros(n)
    f0 = p["f0"] * j * (1 + p["pitch_drop"] * np.exp(-t / 0.05))  # tension relaxes after the hit
    phase = 2 * np.pi * np.cumsum(f0) / sr
    for ratio, amplitude in zip(MEMBRANE_RATIOS, p["mode_amplitudes"], strict=True):
        decay = p["decay_s"] * j / np.sqrt(ratio)  # higher modes die faster
        out += amplitude * np.sin(ratio * phase + rng.uniform(0, 2 * np.pi)) * np.exp(-t / decay)
    click = coloured_noise(n, p["click_exponent"], rng) * np.exp(-t / 0.006) * p["click"]
    shell = resonators(click, [p["shell_hz"]], p["shell_hz"] / 8, sr)  # the drum body rings with the stick
    shell /= np.max(np.abs(shell)) + 1e-12
    return (out / (np.max(np.abs(out)) + 1e-12) + click + p["shell"] * shell) * envelope(
        n, sr, attack_s=0.001
    )


def _fireworks(p: Timbre, n: int, sr: int, rng: np.random.Generator, j: float) -> np.ndarray:
    t = np.arange(n) / sr
    boom = _lowpass(rng.standard_normal(n), p["boom_cutoff"] * j, sr) * np.exp(-t / (p["boom_decay_s"] * j))
    boom /= np.max(np.abs(boom)) + 1e-12
    impulses = (rng.random(n) < p["crackle_rate"] / sr) * rng.uniform(0.3, 1.0, n)
    crackle = _bandpass(impulses, p["crackle_freq"], 0.6 * p["crackle_freq"], sr)
    crackle *= np.clip((t - 0.08) / 0.05, 0, 1) * np.exp(-t / (0.5 * n / sr))  # crackles follow the bang
    crackle /= np.max(np.abs(crackle)) + 1e-12
    return (boom + p["crackle_level"] * crackle) * envelope(n, sr, attack_s=0.003, release_s=0.05)


def _gun(p: Timbre, n: int, sr: int, rng: np.random.Generator, j: float) -> np.ndarray:
    t = np.arange(n) / sr
    blast = coloured_noise(n, p["noise_exponent"], rng) * np.exp(-t / (p["decay_s"] * j))
    report = resonators(blast, [p["report_hz"]], p["report_hz"] / 4, sr)  # the barrel's resonance
    blast = blast / (np.max(np.abs(blast)) + 1e-12) + p["report"] * report / (np.max(np.abs(report)) + 1e-12)
    thump = p["thump_level"] * np.sin(2 * np.pi * p["thump_hz"] * t) * np.exp(-t / 0.06)
    tail = (
        _lowpass(rng.standard_normal(n), p["tail_cutoff"], sr)
        * np.exp(-t / p["tail_decay_s"])
        * p["tail_level"]
    )
    return (blast + thump + tail) * envelope(n, sr, attack_s=0.001, release_s=0.05)


def _hammer(p: Timbre, n: int, sr: int, rng: np.random.Generator, j: float) -> np.ndarray:
    t = np.arange(n) / sr
    out = np.zeros(n)
    for k, (ratio, amplitude) in enumerate(zip(BAR_RATIOS, p["mode_amplitudes"], strict=True)):
        freq = p["f0"] * j * ratio * p["stretch"] ** k
        if freq < 0.45 * sr:
            decay = p["decay_s"] * j / (1 + 0.5 * k)
            out += amplitude * np.sin(2 * np.pi * freq * t + rng.uniform(0, 2 * np.pi)) * np.exp(-t / decay)
    click = coloured_noise(n, p["click_exponent"], rng) * np.exp(-t / 0.004) * p["click"]
    return (out + click) * envelope(n, sr, attack_s=0.0005)


def _sneeze(p: Timbre, n: int, sr: int, rng: np.random.Generator, j: float) -> np.ndarray:
    inhale = min(int(p["inhale_s"] * sr), n // 2)
    out = np.zeros(n)
    voice = harmonics(np.full(inhale, p["f0"] * j), sr, 1.3, rng) + 0.3 * rng.standard_normal(inhale)
    out[:inhale] = (
        0.4
        * resonators(voice, p["formants"], 150.0, sr)
        * envelope(inhale, sr, attack_s=0.02, release_s=0.03)
    )
    rest = n - inhale
    t = np.arange(rest) / sr
    burst = _bandpass(rng.standard_normal(rest), p["burst_hz"] * j, p["burst_bandwidth"], sr)
    out[inhale:] = (
        burst
        / (np.max(np.abs(burst)) + 1e-12)
        * np.exp(-t / p["burst_decay_s"])
        * envelope(rest, sr, attack_s=0.005)
    )
    return out


_SYNTHS = MappingProxyType(
    {
        "baby": _baby,
        "cough": _cough,
        "dog": _dog,
        "drum": _drum,
        "fireworks": _fireworks,
        "gun": _gun,
        "hammer": _hammer,
        "sneeze": _sneeze,
    }
)


def synthesize(
    category: str,
    timbre: Timbre,
    events: list[Event],
    *,
    duration_s: float,
    sample_rate: int,
    background_dbfs: float,
    background_exponent: float,
    rng: np.random.Generator,
    peak: float = 0.8,
) -> np.ndarray:
    """Render ``events`` with one timbre over stationary coloured background noise -> float32.

    The events are scaled together to ``peak`` (their relative levels kept), then the background is
    added at an RMS of ``background_dbfs``. Each event is silent outside [onset, offset].
    """
    total = round(duration_s * sample_rate)
    mix = np.zeros(total)
    synth = _SYNTHS[category]
    for event in events:
        start = round(event.onset_s * sample_rate)
        stop = min(round(event.offset_s * sample_rate), total)
        if stop <= start:
            continue
        jitter = float(np.exp(rng.normal(0.0, 0.02)))  # a few percent from event to event
        sound = synth(timbre, stop - start, sample_rate, rng, jitter)
        sound = sound / (np.max(np.abs(sound)) + 1e-12) * rng.uniform(0.7, 1.0)
        mix[start:stop] += sound * envelope(stop - start, sample_rate, attack_s=0.0, release_s=0.01)
    top = np.max(np.abs(mix))
    if top > 0:
        mix *= peak / top
    mix += coloured_noise(total, background_exponent, rng) * 10 ** (background_dbfs / 20)
    return np.clip(mix, -1.0, 1.0).astype(np.float32)
