#!/usr/bin/env python3
"""A stand-in for "your model": a few lines of signal processing that make one output per pair of an
input pack, using nothing but the pack (numpy and soundfile; no platform code).

For each pair it finds the visual events in the video features (peaks of the motion half, dims
1024-2047, which jump on the frame of an event) and places a grain of the reference sound (its
loudest quarter-second, faded out) at each of them. So it follows the video's timing with the
reference's timbre, crudely: a baseline any learned system should beat.

    python examples/onset_foley.py PACK_FOLDER OUTPUT_FOLDER [--rate 22050]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import soundfile as sf

FPS = 21.5


def visual_onsets(features: np.ndarray) -> np.ndarray:
    """Frame indices where the motion energy peaks well above its usual level."""
    motion = features[:, features.shape[1] // 2 :].sum(axis=1)
    if motion.max() <= 0:
        return np.array([], dtype=int)
    threshold = np.median(motion) + 0.5 * (motion.max() - np.median(motion))
    peaks = [
        t
        for t in range(len(motion))
        if motion[t] >= threshold
        and motion[t] >= motion[max(t - 1, 0)]
        and motion[t] > motion[min(t + 1, len(motion) - 1)] - 1e-12
        and (t == 0 or motion[t - 1] < threshold or motion[t] > motion[t - 1])
    ]
    # one onset per event: drop peaks closer than 3 frames to the previous one
    kept: list[int] = []
    for t in peaks:
        if not kept or t - kept[-1] >= 3:
            kept.append(t)
    return np.array(kept, dtype=int)


def grain(reference: np.ndarray, rate: int, seconds: float = 0.25) -> np.ndarray:
    n = max(1, int(seconds * rate))
    if len(reference) <= n:
        piece = reference.copy()
    else:
        energy = np.convolve(reference**2, np.ones(n), mode="valid")
        start = int(np.argmax(energy))
        piece = reference[start : start + n].copy()
    return piece * np.linspace(1.0, 0.0, len(piece)) ** 2


def render(pair: dict, pack: Path, rate: int) -> np.ndarray:
    features = np.load(pack / pair["features"])
    reference, ref_rate = sf.read(pack / pair["reference_audio"], dtype="float32")
    if reference.ndim > 1:
        reference = reference.mean(axis=1)
    if ref_rate != rate:  # linear interpolation is enough for a grain
        times = np.arange(int(len(reference) * rate / ref_rate)) / rate
        reference = np.interp(times, np.arange(len(reference)) / ref_rate, reference).astype(np.float32)
    out = np.zeros(int(round(pair["duration_s"] * rate)), dtype=np.float32)
    piece = grain(reference, rate)
    for frame in visual_onsets(features):
        start = int(frame / FPS * rate)
        end = min(len(out), start + len(piece))
        out[start:end] += piece[: end - start]
    peak = float(np.abs(out).max())
    if peak < 1e-3:  # no visual event found: a faint copy of the reference, so the file is not silent
        out[:] = np.resize(reference, len(out)) * 0.1
        peak = float(np.abs(out).max()) or 1.0
    return out * (0.8 / max(peak, 0.8))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pack", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--rate", type=int, default=22050, help="Sample rate of the files written")
    args = parser.parse_args()
    manifest = json.loads((args.pack / "manifest.json").read_text())
    args.out.mkdir(parents=True, exist_ok=True)
    for pair in manifest["pairs"]:
        sf.write(args.out / pair["output"], render(pair, args.pack, args.rate), args.rate, subtype="PCM_16")
    print(f"{len(manifest['pairs'])} outputs written to {args.out}")


if __name__ == "__main__":
    main()
