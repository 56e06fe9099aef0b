"""Timbre similarity: cosine similarity (paper, eq. 10) of Resemblyzer embeddings.

The paper embeds the generated audio and its reference with Resemblyzer's ``VoiceEncoder`` and
reports their cosine similarity. We follow Resemblyzer's own pipeline (``preprocess_wav`` then
``embed_utterance``) step by step, with two differences:

**Batched.** ``embed_utterance`` runs the LSTM once per clip. A clip's embedding is the normalised
mean of the embeddings of its 1.6-s partial windows, and every window has the same 160 frames, so
the windows of many clips go through the network as one batch and are averaged per clip afterwards;
the result equals ``embed_utterance`` (a test checks it).

**The VAD guard.** ``preprocess_wav`` resamples to 16 kHz, raises the level to -30 dBFS and removes
long stretches that webrtcvad (a *speech* detector, mode 3) calls silence. On sound effects that is
mostly helpful: on 10-s SynthVAS clips it keeps 9-75 % of the clip (the events), and the margin
between same-source and different-source similarity grows from about 0.05 (whole clips, dominated
by the background between events) to about 0.2. But a speech detector can also discard almost
everything: then the embedding would describe a few windows padded with zeros. The guard falls back
to the untrimmed, volume-normalised wave when trimming keeps less than ``min_kept_seconds`` (0.5 s)
*or* less than ``min_kept_fraction`` (5 %) of the clip. The thresholds are deliberately low: the
fallback changes what is embedded (events only -> events plus background), so a fallback clip
compared with a trimmed one is biased low; a 1-s threshold fired on 5 of 72 SynthVAS clips and
cost the gun category its whole margin. ``prepare`` reports whether the fallback fired, so a caller
can count it.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from inference.metrics._checks import check_wave
from inference.numba_lock import numba_first_use

EMBEDDING_SIZE = 256
ENCODER_SAMPLE_RATE = 16000  # resemblyzer.hparams.sampling_rate
MIN_SECONDS = 0.1  # below this there is nothing to embed (webrtcvad's window alone is 30 ms)


@dataclass(frozen=True)
class VadGuard:
    """When to distrust webrtcvad's trimming and embed the whole (volume-normalised) wave instead."""

    min_kept_seconds: float = 0.5
    min_kept_fraction: float = 0.05

    def __post_init__(self) -> None:
        if self.min_kept_seconds < 0 or not 0 <= self.min_kept_fraction <= 1:
            raise ValueError("min_kept_seconds must be >= 0 and min_kept_fraction in [0, 1]")


@dataclass(frozen=True)
class PreparedWave:
    samples: np.ndarray  # float32 at 16 kHz, what the encoder embeds
    kept_fraction: float  # share of the (resampled) clip that VAD trimming kept
    trimmed: bool  # False when the guard fell back to the untrimmed wave


def cosine_similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Equation 10: sum(x_i y_i) / (sqrt(sum x_i^2) sqrt(sum y_i^2)) for two 1-D vectors."""
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if x.ndim != 1 or x.shape != y.shape:
        raise ValueError(f"expected two 1-D vectors of the same length, got {x.shape} and {y.shape}")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise ValueError("cosine similarity of vectors with NaN or infinite entries")
    nx, ny = float(np.linalg.norm(x)), float(np.linalg.norm(y))
    if nx == 0.0 or ny == 0.0:
        raise ValueError("cosine similarity is undefined for a zero vector")
    return float(x @ y / (nx * ny))


def cosine_similarity_many(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise ``cosine_similarity`` of two (N, D) arrays -> (N,)."""
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if x.ndim != 2 or x.shape != y.shape:
        raise ValueError(f"expected two (N, D) arrays of the same shape, got {x.shape} and {y.shape}")
    return np.array([cosine_similarity(u, v) for u, v in zip(x, y, strict=True)])


class TimbreEncoder:
    """Resemblyzer's voice encoder, loaded once; the caller owns the object (and so the cache).

    Construct one per worker process and reuse it: loading takes about half a second.
    """

    def __init__(
        self, device: str = "cpu", *, guard: VadGuard | None = None, batch_windows: int = 64
    ) -> None:
        with warnings.catch_warnings():
            # webrtcvad imports pkg_resources, which warns about its own deprecation.
            warnings.simplefilter("ignore")
            from resemblyzer import VoiceEncoder

        self.guard = guard or VadGuard()
        if batch_windows < 1:
            raise ValueError("batch_windows must be at least 1")
        self.batch_windows = batch_windows
        # The weights ship inside the resemblyzer wheel: nothing is downloaded.
        self.encoder = VoiceEncoder(device, verbose=False)
        self.encoder.eval()

    def prepare(self, wave: np.ndarray, sample_rate: int = 22050) -> PreparedWave:
        """Resemblyzer's ``preprocess_wav`` with the VAD guard (see the module docstring)."""
        import librosa
        from resemblyzer.audio import normalize_volume, trim_long_silences
        from resemblyzer.hparams import audio_norm_target_dBFS

        samples = check_wave(wave, sample_rate, min_seconds=MIN_SECONDS, allow_silence=False)
        if sample_rate != ENCODER_SAMPLE_RATE:
            with numba_first_use("resemblyzer-resample"):
                samples = librosa.resample(samples, orig_sr=sample_rate, target_sr=ENCODER_SAMPLE_RATE)
        # increase_only, as preprocess_wav: loud clips keep their level, quiet ones come up to -30 dBFS.
        normalised = normalize_volume(samples, audio_norm_target_dBFS, increase_only=True).astype(np.float32)
        trimmed = trim_long_silences(normalised)
        kept = len(trimmed) / len(normalised)
        if (
            len(trimmed) < self.guard.min_kept_seconds * ENCODER_SAMPLE_RATE
            or kept < self.guard.min_kept_fraction
        ):
            return PreparedWave(normalised, kept, trimmed=False)
        return PreparedWave(trimmed.astype(np.float32), kept, trimmed=True)

    def embed_prepared(self, prepared: Sequence[PreparedWave]) -> np.ndarray:
        """(N, 256) unit-norm embeddings; all partial windows of all clips run in shared batches."""
        import torch
        from resemblyzer.audio import wav_to_mel_spectrogram

        windows: list[np.ndarray] = []
        owner: list[int] = []
        for i, item in enumerate(prepared):
            # Same slicing as VoiceEncoder.embed_utterance (rate 1.3 windows/s, min coverage 0.75).
            wav_slices, mel_slices = self.encoder.compute_partial_slices(len(item.samples), 1.3, 0.75)
            wav = item.samples
            if wav_slices[-1].stop >= len(wav):
                wav = np.pad(wav, (0, wav_slices[-1].stop - len(wav)))
            with numba_first_use("resemblyzer-mel"):
                mel = wav_to_mel_spectrogram(wav)  # (frames, 40)
            windows.extend(mel[s] for s in mel_slices)
            owner.extend([i] * len(mel_slices))
        if not windows:
            return np.zeros((0, EMBEDDING_SIZE), dtype=np.float32)
        stacked = np.stack(windows)  # (windows, 160, 40)
        partial = np.empty((len(stacked), EMBEDDING_SIZE), dtype=np.float32)
        with torch.inference_mode():
            for start in range(0, len(stacked), self.batch_windows):
                batch = torch.from_numpy(stacked[start : start + self.batch_windows]).to(self.encoder.device)
                partial[start : start + len(batch)] = self.encoder(batch).cpu().numpy()
        owners = np.asarray(owner)
        out = np.empty((len(prepared), EMBEDDING_SIZE), dtype=np.float32)
        for i in range(len(prepared)):
            mean = partial[owners == i].mean(axis=0)
            out[i] = mean / np.linalg.norm(mean)
        return out

    def embed_many(self, waves: Sequence[np.ndarray], sample_rate: int = 22050) -> np.ndarray:
        """(N, 256) unit-norm embeddings of N mono waveforms at ``sample_rate`` (22050 Hz by default)."""
        prepared = []
        for i, wave in enumerate(waves):
            try:
                prepared.append(self.prepare(wave, sample_rate))
            except ValueError as exc:
                raise ValueError(f"waveform {i}: {exc}") from exc
        return self.embed_prepared(prepared)

    def embed(self, wave: np.ndarray, sample_rate: int = 22050) -> np.ndarray:
        return self.embed_many([wave], sample_rate)[0]

    def similarity_many(
        self, generated: Sequence[np.ndarray], references: Sequence[np.ndarray], sample_rate: int = 22050
    ) -> np.ndarray:
        """Cosine similarity of each generated clip to its reference, embedding everything in one batch.

        A reference shared by several generated clips (the timbre task: 3 per reference) may be
        passed each time; pass distinct references to ``embed_many`` yourself to embed each once.
        """
        if len(generated) != len(references):
            raise ValueError(f"{len(generated)} generated clips but {len(references)} references")
        if not generated:
            return np.zeros(0)
        embeddings = self.embed_many([*generated, *references], sample_rate)
        n = len(generated)
        return cosine_similarity_many(embeddings[:n], embeddings[n:])
