"""The paper's sample selection (VarietySound, Appendix D), pure and seeded, one category at a time.

Per category, from the sorted ids of its test clips:

* **realism**: 10 random clips; their video-audio pairing is broken by a random *derangement* ``pi``
  (no clip keeps its own audio), and pair ``i`` is (video of clip ``i``, reference audio of clip
  ``pi(i)``). Raters hear these 10 generated samples mixed with 10 ground-truth samples.
* **alignment**: the *same* pairs as realism, in the same order with the same indices. The paper
  muxes the realism samples onto their videos, so nothing new is generated: a pair's
  ``generation_key`` is equal for the realism and alignment pair of one index, and a caller that
  generates once per (system, generation_key) reuses the realism audio. ``SHARES_GENERATION_WITH``
  states it as data.
* **timbre**: 5 random reference clips x 3 random videos each (distinct, never the reference's own
  clip) = 15 pairs; each generated sample is rated against its reference.
* **ablation**: 10 random *original* pairs (video and reference from the same clip), scored by MCD
  against that clip's ground truth.

**Ground truth** needs no pairs: it is the vocoded ground-truth mel of a clip (never the raw
recording), so callers get the clip ids from ``ground_truth_clip_ids(task)`` of a
``CategorySelection``: the realism / alignment clips themselves (each with its own audio), the
timbre references, the ablation clips.

**Determinism.** Every (category, task) draws from its own generator, seeded by
``(seed, sha256(category), task number)``: the selection of one category does not depend on which
other categories exist or in which order they come, and changing one task's count leaves the other
tasks' draws alone. Clip ids are sorted first, so the input order does not matter either.

**Small splits.** When a category has fewer clips than the protocol needs, counts scale down and a
``SelectionWarning`` says so (returned, never printed): realism and timbre need at least 2 clips
(a derangement of 1 clip does not exist; a timbre video must come from another clip), ablation 1.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

import numpy as np

Task = Literal["realism", "alignment", "timbre", "ablation"]
TASKS: tuple[Task, ...] = ("realism", "alignment", "timbre", "ablation")

# The alignment study reuses the realism samples (paper, Appendix D): generate once, mux onto video.
SHARES_GENERATION_WITH: Mapping[Task, Task] = MappingProxyType({"alignment": "realism"})

# Fixed task numbers for seeding: appending a task later must not reshuffle the existing ones.
_TASK_STREAM = MappingProxyType({"realism": 0, "timbre": 1, "ablation": 2})


@dataclass(frozen=True)
class Protocol:
    """Counts per category; the defaults are the paper's."""

    realism: int = 10
    timbre_references: int = 5
    timbre_videos: int = 3
    ablation: int = 10

    def __post_init__(self) -> None:
        for name in ("realism", "timbre_references", "timbre_videos", "ablation"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f"Protocol.{name} must be a non-negative integer, got {value!r}")
        if self.realism == 1:
            raise ValueError("Protocol.realism must be 0 or at least 2: one clip cannot swap its audio")


@dataclass(frozen=True)
class PairSpec:
    """One model input: the video of one clip with the reference audio of another (or the same) clip."""

    task: Task
    category: str
    index: int
    video_clip_id: str
    reference_clip_id: str

    @property
    def original(self) -> bool:
        """True when video and reference come from the same clip (the paper's "original pair")."""
        return self.video_clip_id == self.reference_clip_id

    @property
    def generation_key(self) -> tuple[str, str, str]:
        """What the model sees: pairs with equal keys need one generated sample per system."""
        return (self.category, self.video_clip_id, self.reference_clip_id)


@dataclass(frozen=True)
class SelectionWarning:
    category: str
    task: Task
    wanted: int
    got: int
    message: str


@dataclass(frozen=True)
class CategorySelection:
    category: str
    pairs: tuple[PairSpec, ...]
    warnings: tuple[SelectionWarning, ...]

    def pairs_for(self, task: Task) -> tuple[PairSpec, ...]:
        _check_task(task)
        return tuple(p for p in self.pairs if p.task == task)

    def ground_truth_clip_ids(self, task: Task) -> tuple[str, ...]:
        """Clips whose vocoded ground truth the task shows beside (or compares with) the generated ones.

        realism / alignment: the selected clips (the pairs' videos, each with its *own* audio);
        timbre: the distinct reference clips (the reference raters hear is vocoded too);
        ablation: the original pairs' clips (the MCD target).
        """
        pairs = self.pairs_for(task)
        ids = [p.reference_clip_id for p in pairs] if task == "timbre" else [p.video_clip_id for p in pairs]
        return tuple(dict.fromkeys(ids))  # first-seen order, no repeats


@dataclass(frozen=True)
class Selection:
    seed: int
    protocol: Protocol
    categories: Mapping[str, CategorySelection]

    @property
    def pairs(self) -> tuple[PairSpec, ...]:
        return tuple(p for name in sorted(self.categories) for p in self.categories[name].pairs)

    @property
    def warnings(self) -> tuple[SelectionWarning, ...]:
        return tuple(w for name in sorted(self.categories) for w in self.categories[name].warnings)


def _check_task(task: str) -> None:
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; expected one of {', '.join(TASKS)}")


def _rng(seed: int, category: str, task: Task) -> np.random.Generator:
    # sha256, not hash(): Python salts str hashes per process, which would break reproducibility.
    digest = int.from_bytes(hashlib.sha256(category.encode("utf-8")).digest()[:8], "big")
    return np.random.default_rng(np.random.SeedSequence([seed, digest, _TASK_STREAM[task]]))


def random_derangement(n: int, rng: np.random.Generator) -> np.ndarray:
    """A uniformly random permutation of range(n) without fixed points (n >= 2).

    Rejection sampling: about 1/e of all permutations are derangements for any n >= 2, so this
    takes e ~ 2.7 draws on average, and every derangement is equally likely (Sattolo's algorithm
    would only produce single cycles).
    """
    if n < 2:
        raise ValueError(f"a derangement needs at least 2 elements, got {n}")
    identity = np.arange(n)
    while True:
        perm = rng.permutation(n)
        if not np.any(perm == identity):
            return perm


def _validated_ids(category: str, clip_ids: Sequence[str]) -> list[str]:
    if not isinstance(category, str) or not category:
        raise ValueError(f"a category name must be a non-empty string, got {category!r}")
    if isinstance(clip_ids, str):
        raise TypeError(f"clip ids of {category!r} must be a sequence of strings, not one string")
    ids = list(clip_ids)
    bad = [c for c in ids if not isinstance(c, str) or not c]
    if bad:
        raise ValueError(f"clip ids of {category!r} must be non-empty strings, got {bad[:3]!r}")
    if len(set(ids)) != len(ids):
        duplicated = sorted({c for c in ids if ids.count(c) > 1})
        raise ValueError(f"clip ids of {category!r} are repeated: {duplicated[:5]}")
    return sorted(ids)


def _scale(
    category: str, task: Task, wanted: int, available: int, minimum: int, warnings: list[SelectionWarning]
) -> int:
    """How many to take; appends a warning when that is fewer than the protocol asks for."""
    got = min(wanted, available) if available >= minimum else 0
    if got < wanted:
        reason = (
            f"needs at least {minimum} test clips"
            if available < minimum
            else f"has only {available} usable test clips"
        )
        warnings.append(
            SelectionWarning(
                category,
                task,
                wanted,
                got,
                f"{category}: {task} {reason}; using {got} of {wanted}",
            )
        )
    return got


def _realism(
    category: str, ids: list[str], seed: int, want: int, warnings: list[SelectionWarning]
) -> list[PairSpec]:
    n = _scale(category, "realism", want, len(ids), 2, warnings)
    if n == 0:
        return []
    rng = _rng(seed, category, "realism")
    clips = [ids[i] for i in rng.choice(len(ids), size=n, replace=False)]
    perm = random_derangement(n, rng)
    return [PairSpec("realism", category, i, clips[i], clips[int(perm[i])]) for i in range(n)]


def _timbre(
    category: str, ids: list[str], seed: int, protocol: Protocol, warnings: list[SelectionWarning]
) -> list[PairSpec]:
    wanted = protocol.timbre_references * protocol.timbre_videos
    if wanted == 0:
        return []
    # A reference's videos come from the *other* clips: at most len(ids) - 1 of them, none below 2 clips.
    refs = min(protocol.timbre_references, len(ids)) if len(ids) >= 2 else 0
    videos = min(protocol.timbre_videos, len(ids) - 1) if refs else 0
    if refs * videos < wanted:
        warnings.append(
            SelectionWarning(
                category,
                "timbre",
                wanted,
                refs * videos,
                f"{category}: timbre needs {protocol.timbre_references} references and "
                f"{protocol.timbre_videos} other clips each, the split has {len(ids)} clips; "
                f"using {refs} x {videos} = {refs * videos} of {wanted} pairs",
            )
        )
    if refs * videos == 0:
        return []
    rng = _rng(seed, category, "timbre")
    pairs = []
    for ref_index in rng.choice(len(ids), size=refs, replace=False):
        others = [c for j, c in enumerate(ids) if j != ref_index]
        for video_index in rng.choice(len(others), size=videos, replace=False):
            pairs.append(PairSpec("timbre", category, len(pairs), others[video_index], ids[ref_index]))
    return pairs


def _ablation(
    category: str, ids: list[str], seed: int, want: int, warnings: list[SelectionWarning]
) -> list[PairSpec]:
    n = _scale(category, "ablation", want, len(ids), 1, warnings)
    if n == 0:
        return []
    rng = _rng(seed, category, "ablation")
    clips = [ids[i] for i in rng.choice(len(ids), size=n, replace=False)]
    return [PairSpec("ablation", category, i, c, c) for i, c in enumerate(clips)]


def select_category(
    category: str, clip_ids: Sequence[str], *, seed: int, protocol: Protocol | None = None
) -> CategorySelection:
    """The four tasks' pairs for one category, in task order (realism, alignment, timbre, ablation)."""
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    protocol = protocol or Protocol()
    ids = _validated_ids(category, clip_ids)
    warnings: list[SelectionWarning] = []
    realism = _realism(category, ids, seed, protocol.realism, warnings)
    alignment = [
        PairSpec("alignment", category, p.index, p.video_clip_id, p.reference_clip_id) for p in realism
    ]
    timbre = _timbre(category, ids, seed, protocol, warnings)
    ablation = _ablation(category, ids, seed, protocol.ablation, warnings)
    return CategorySelection(category, tuple(realism + alignment + timbre + ablation), tuple(warnings))


def select(
    clips_by_category: Mapping[str, Sequence[str]], *, seed: int, protocol: Protocol | None = None
) -> Selection:
    """``select_category`` for every category; categories are independent of each other."""
    protocol = protocol or Protocol()
    chosen = {
        name: select_category(name, ids, seed=seed, protocol=protocol)
        for name, ids in sorted(clips_by_category.items())
    }
    return Selection(seed=seed, protocol=protocol, categories=MappingProxyType(chosen))
