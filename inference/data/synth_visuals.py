"""SynthVAS pictures: a category-specific object over a static background that reacts to each event.

A ``Look`` is a background gradient and a few ``Part`` sprites (a dog's body and head, a drum and its
stick, a gun and its muzzle flash). On each event a part jumps by its ``motion`` vector, flashes
towards its ``flash_colour`` and, if it is only visible during events (``base_alpha`` 0, like a
firework or a muzzle flash), appears; all of it then relaxes back over the event. The jump happens on
the onset frame itself, so the largest frame-to-frame change of the clip is at each onset: that is
the timing a video-to-sound model must pick up.

Drawing is numpy only: sprites are rasterised once per clip with anti-aliased edges, and each frame
blends them into a copy of the background. Frames without any event share one pre-rendered rest frame.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from inference.data.synth_events import Event

RGB = tuple[int, int, int]


@dataclass(frozen=True)
class Part:
    shape: str  # "disc" | "ellipse" | "box" | "ring" | "star" | "tee"
    size: tuple[float, float]  # (width, height) as fractions of the frame height
    position: tuple[float, float]  # centre (x, y) as fractions of (width, height)
    colour: RGB
    flash_colour: RGB
    flash: float  # 0..1: how far towards flash_colour at the event's peak
    motion: tuple[float, float]  # displacement at the event's peak, fractions of the frame height
    base_alpha: float  # 1: always visible; 0: only during events
    follows_event_shift: bool = False  # placed by each event's shift (fireworks)


@dataclass(frozen=True)
class Look:
    top: RGB
    bottom: RGB
    texture: float  # amplitude of the static background texture, in grey levels
    parts: tuple[Part, ...]
    decay_frames: float  # how fast the object relaxes after an event

    def to_json(self) -> dict[str, object]:
        return {
            "top": list(self.top),
            "bottom": list(self.bottom),
            "texture": self.texture,
            "decay_frames": self.decay_frames,
            "parts": [
                {
                    "shape": p.shape,
                    "size": list(p.size),
                    "position": list(p.position),
                    "colour": list(p.colour),
                    "flash_colour": list(p.flash_colour),
                    "flash": p.flash,
                    "motion": list(p.motion),
                    "base_alpha": p.base_alpha,
                }
                for p in self.parts
            ],
        }


def _colour(rng: np.random.Generator, base: RGB, spread: int = 30) -> RGB:
    return tuple(int(np.clip(c + rng.integers(-spread, spread + 1), 0, 255)) for c in base)  # type: ignore[return-value]


def sample_look(category: str, rng: np.random.Generator) -> Look:
    """A per-clip variant of the category's look: colours, sizes and positions vary, the kind doesn't."""
    s = float(rng.uniform(0.85, 1.15))  # object scale
    x, y = float(rng.uniform(0.35, 0.65)), float(rng.uniform(0.45, 0.6))
    sky = _colour(rng, (150, 180, 210))
    ground = _colour(rng, (110, 120, 90))
    if category == "baby":
        skin = _colour(rng, (240, 190, 170), 15)
        parts = (
            Part("disc", (0.4 * s, 0.4 * s), (x, y), skin, (250, 110, 110), 0.5, (0.02, -0.03), 1.0),
            Part(
                "ellipse",
                (0.14 * s, 0.09 * s),
                (x, y + 0.08 * s),
                (90, 30, 40),
                (90, 30, 40),
                0.0,
                (0.02, -0.03),
                0.0,
            ),
        )
    elif category == "cough":
        skin = _colour(rng, (220, 180, 140), 20)
        parts = (
            Part("ellipse", (0.32 * s, 0.42 * s), (x, y), skin, (230, 120, 100), 0.3, (0.06, 0.03), 1.0),
            Part(
                "disc",
                (0.08 * s, 0.08 * s),
                (x + 0.1 * s, y + 0.08),
                (80, 40, 40),
                (80, 40, 40),
                0.0,
                (0.06, 0.03),
                0.0,
            ),
        )
    elif category == "dog":
        fur = _colour(rng, (140, 95, 55), 35)
        parts = (
            Part("box", (0.45 * s, 0.22 * s), (x, y + 0.12), fur, (255, 230, 200), 0.2, (0.0, -0.1), 1.0),
            Part(
                "disc",
                (0.22 * s, 0.22 * s),
                (x + 0.17 * s, y - 0.02),
                fur,
                (255, 230, 200),
                0.2,
                (0.02, -0.12),
                1.0,
            ),
        )
    elif category == "drum":
        shell = _colour(rng, (180, 40, 40), 50)
        parts = (
            Part("ellipse", (0.5 * s, 0.3 * s), (x, y + 0.1), shell, (255, 255, 255), 0.6, (0.0, 0.015), 1.0),
            Part(
                "box",
                (0.04 * s, 0.3 * s),
                (x + 0.12, y - 0.18),
                (230, 210, 170),
                (255, 255, 255),
                0.0,
                (0.0, 0.1),
                1.0,
            ),
        )
    elif category == "fireworks":
        sky = _colour(rng, (15, 15, 40), 10)
        ground = _colour(rng, (25, 25, 35), 10)
        burst = _colour(
            rng,
            tuple(
                int(v) for v in rng.choice([(255, 80, 80), (80, 255, 120), (255, 220, 60), (120, 160, 255)])
            ),
            20,
        )
        shape = "star" if rng.random() < 0.5 else "ring"
        parts = (
            Part(shape, (0.45 * s, 0.45 * s), (0.5, 0.4), burst, (255, 255, 255), 0.5, (0.0, 0.0), 0.0, True),
        )
    elif category == "gun":
        metal = _colour(rng, (70, 70, 75), 20)
        parts = (
            Part("box", (0.5 * s, 0.1 * s), (x, y), metal, (200, 200, 200), 0.1, (-0.04, -0.01), 1.0),
            Part(
                "star",
                (0.2 * s, 0.2 * s),
                (x + 0.25 * s + 0.08, y),
                (255, 220, 90),
                (255, 255, 255),
                0.4,
                (0.0, 0.0),
                0.0,
            ),
        )
    elif category == "hammer":
        steel = _colour(rng, (120, 120, 130), 25)
        parts = (
            Part("tee", (0.3 * s, 0.45 * s), (x, y - 0.1), steel, (255, 255, 255), 0.3, (0.0, 0.12), 1.0),
            Part(
                "box",
                (0.6 * s, 0.06),
                (x, y + 0.3),
                _colour(rng, (90, 70, 50)),
                (255, 240, 200),
                0.3,
                (0.0, 0.01),
                1.0,
            ),
        )
    elif category == "sneeze":
        skin = _colour(rng, (210, 190, 150), 25)
        parts = (
            Part("ellipse", (0.32 * s, 0.42 * s), (x, y), skin, (240, 140, 140), 0.3, (0.05, 0.05), 1.0),
            Part(
                "ring",
                (0.25 * s, 0.25 * s),
                (x + 0.25 * s, y + 0.05),
                (200, 230, 255),
                (255, 255, 255),
                0.3,
                (0.08, 0.05),
                0.0,
            ),
        )
    else:
        raise ValueError(f"unknown category {category!r}")
    return Look(
        top=sky,
        bottom=ground,
        texture=float(rng.uniform(2, 8)),
        parts=parts,
        decay_frames=float(rng.uniform(2.0, 5.0)),
    )


def _sprite(shape: str, width: int, height: int) -> np.ndarray:
    """Anti-aliased coverage mask (height, width) in [0, 1] of a shape filling the box."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    u = (xx + 0.5 - width / 2) / (width / 2)  # -1..1 across the box
    v = (yy + 0.5 - height / 2) / (height / 2)
    pixel = 2.0 / max(min(width, height), 1)
    r = np.sqrt(u * u + v * v)
    if shape in ("disc", "ellipse"):
        distance = r - 1
    elif shape == "box":
        distance = np.maximum(np.abs(u), np.abs(v)) - 1
    elif shape == "ring":
        distance = np.abs(r - 0.75) - 0.25
    elif shape == "star":
        angle = np.arctan2(v, u)
        radius = 0.55 + 0.45 * np.abs(np.cos(2.5 * angle)) ** 3
        distance = r - radius
    elif shape == "tee":
        head = np.maximum(np.abs(u) - 1, np.abs(v + 0.75) - 0.25)
        handle = np.maximum(np.abs(u) - 0.2, np.abs(v - 0.25) - 0.75)
        distance = np.minimum(head, handle)
    else:
        raise ValueError(f"unknown shape {shape!r}")
    return np.clip(0.5 - distance / pixel, 0.0, 1.0)


def _background(look: Look, width: int, height: int, rng: np.random.Generator) -> np.ndarray:
    blend = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None, None]
    image = (1 - blend) * np.array(look.top, np.float32) + blend * np.array(look.bottom, np.float32)
    coarse = rng.standard_normal((height // 8 + 1, width // 8 + 1, 1)).astype(np.float32)
    texture = np.repeat(np.repeat(coarse, 8, axis=0), 8, axis=1)[:height, :width]
    return np.clip(image + look.texture * texture, 0, 255).astype(np.float32)


def event_envelope(
    events: list[Event], n_frames: int, fps: float, decay_frames: float
) -> tuple[np.ndarray, np.ndarray]:
    """Per frame: strength in [0, 1] (1 on onset frames, relaxing after) and the active event's index."""
    strength = np.zeros(n_frames, dtype=np.float32)
    owner = np.full(n_frames, -1, dtype=np.int64)
    for index, event in enumerate(events):
        start = event.onset_frame
        stop = min(max(math.ceil(event.offset_s * fps - 1e-9), start + 1), n_frames)
        frames = np.arange(start, stop)
        strength[start:stop] = np.exp(-(frames - start) / decay_frames)
        owner[start:stop] = index
    return strength, owner


def render_frames(
    look: Look,
    events: list[Event],
    *,
    n_frames: int,
    fps: float,
    width: int,
    height: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """uint8 RGB frames (n_frames, height, width, 3) of the clip."""
    background = _background(look, width, height, rng)
    sprites = []
    for part in look.parts:
        w, h = max(int(part.size[0] * height), 2), max(int(part.size[1] * height), 2)
        sprites.append((part, _sprite(part.shape, w, h)[:, :, None]))

    def draw(strength: float, shift: tuple[float, float]) -> np.ndarray:
        canvas = background.copy()
        for part, mask in sprites:
            alpha = part.base_alpha + (1 - part.base_alpha) * strength
            if alpha <= 0:
                continue
            cx = part.position[0] * width + part.motion[0] * height * strength
            cy = part.position[1] * height + part.motion[1] * height * strength
            if part.follows_event_shift:
                cx, cy = cx + shift[0] * width, cy + shift[1] * height
            colour = np.array(part.colour, np.float32)
            colour += part.flash * strength * (np.array(part.flash_colour, np.float32) - colour)
            h, w = mask.shape[:2]
            x0, y0 = int(round(cx - w / 2)), int(round(cy - h / 2))
            # Clip the sprite to the frame: a jump may carry it partly outside.
            sx0, sy0 = max(0, -x0), max(0, -y0)
            sx1, sy1 = min(w, width - x0), min(h, height - y0)
            if sx1 <= sx0 or sy1 <= sy0:
                continue
            region = canvas[y0 + sy0 : y0 + sy1, x0 + sx0 : x0 + sx1]
            cover = mask[sy0:sy1, sx0:sx1] * alpha
            region += cover * (colour - region)
        return np.clip(canvas + 0.5, 0, 255).astype(np.uint8)

    strength, owner = event_envelope(events, n_frames, fps, look.decay_frames)
    frames = np.empty((n_frames, height, width, 3), dtype=np.uint8)
    frames[:] = draw(0.0, (0.0, 0.0))
    for k in np.nonzero(strength > 0)[0]:
        frames[k] = draw(float(strength[k]), events[owner[k]].shift)
    return frames
