"""When things happen in a SynthVAS clip: event onsets and offsets, shared by the sound and the picture.

Onsets sit exactly on video frame times (``k / fps``), so "the event is visible from frame k" and
"the sound starts at k / fps seconds" are the same statement: the ground truth needs no rounding
convention. Events never overlap and are separated by at least ``MIN_GAP_S`` of background, so each
onset is a clean rise of energy and of motion.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np

CATEGORIES = ("baby", "cough", "dog", "drum", "fireworks", "gun", "hammer", "sneeze")

# Events per 10 s of clip, (min, max): a dog barks a few times, a drummer hits often.
EVENTS_PER_10S: Mapping[str, tuple[int, int]] = MappingProxyType(
    {
        "baby": (1, 3),
        "cough": (2, 5),
        "dog": (2, 6),
        "drum": (4, 10),
        "fireworks": (2, 5),
        "gun": (1, 6),
        "hammer": (3, 9),
        "sneeze": (1, 3),
    }
)
MIN_GAP_S = 0.25
LEAD_IN_S = 0.25  # nothing in the first frames: frame 0 has no motion to compare with
TAIL_S = 0.1


@dataclass(frozen=True)
class Event:
    onset_s: float
    offset_s: float
    onset_frame: int
    # Visual placement of this event, as a fraction of the frame (used where events move around,
    # e.g. each firework bursts somewhere else); (0, 0) elsewhere.
    shift: tuple[float, float] = (0.0, 0.0)

    def to_json(self) -> dict[str, object]:
        return {
            "onset_s": round(self.onset_s, 6),
            "offset_s": round(self.offset_s, 6),
            "onset_frame": self.onset_frame,
            "shift": [round(self.shift[0], 6), round(self.shift[1], 6)],
        }


def sample_events(
    category: str,
    *,
    duration_s: float,
    fps: float,
    event_s: tuple[float, float],
    rng: np.random.Generator,
    movable: bool = False,
) -> list[Event]:
    """Non-overlapping events whose lengths are drawn from ``event_s`` = (shortest, longest)."""
    lo_count, hi_count = EVENTS_PER_10S[category]
    count = int(rng.integers(lo_count, hi_count + 1))
    count = max(1, round(count * duration_s / 10.0))
    lengths = rng.uniform(event_s[0], event_s[1], size=count)
    frame = 1.0 / fps
    usable = duration_s - LEAD_IN_S - TAIL_S
    # Drop events until they fit with their gaps (and a frame of slack each for the snapping).
    while count > 1 and lengths[:count].sum() + count * (MIN_GAP_S + frame) > usable:
        count -= 1
    lengths = np.minimum(lengths[:count], max(usable - MIN_GAP_S - frame, frame))
    spare = max(usable - lengths.sum() - count * (MIN_GAP_S + frame), 0.0)
    gaps = rng.dirichlet(np.ones(count + 1)) * spare
    events = []
    cursor = LEAD_IN_S
    for length, gap in zip(lengths, gaps[:count], strict=True):
        onset_frame = math.ceil((cursor + gap) * fps - 1e-9)
        onset = onset_frame / fps
        shift = (float(rng.uniform(-0.25, 0.25)), float(rng.uniform(-0.2, 0.15))) if movable else (0.0, 0.0)
        events.append(
            Event(onset_s=onset, offset_s=onset + float(length), onset_frame=onset_frame, shift=shift)
        )
        cursor = onset + float(length) + MIN_GAP_S
    return events
