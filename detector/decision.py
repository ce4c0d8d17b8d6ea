"""How a score becomes a verdict: one object, read from the checkpoint, used everywhere a label is given.

The library, the app, the CLI, evaluation and the private page (``detector/web/private.js``, which reads the same
``config.json`` and applies the same rule) all label a score through :class:`Decision`:

- ``score >= threshold``: the fake class name ("fake"), else the real one ("real");
- inside the uncertain band ``[lo, hi)``: ``"uncertain"``, whatever side of the threshold;
- no score (no face): ``"no face"``.

A photo's faces are judged by the checkpoint's per-face decision; a person's aggregated score in a video by the
clip-level one (``Preprocessing.decision(clip=True)``) where the checkpoint has one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from .errors import ConfigError

UNCERTAIN = "uncertain"
NO_FACE = "no face"


@dataclass(frozen=True)
class Decision:
    """A threshold, an optional uncertain band and the two class names."""

    threshold: float
    band: tuple[float, float] | None = None
    class_names: tuple[str, str] = ("real", "fake")

    def __post_init__(self) -> None:
        t = float(self.threshold)
        if not 0.0 < t < 1.0:
            raise ConfigError(f"threshold must be strictly between 0 and 1, got {self.threshold}.")
        object.__setattr__(self, "threshold", t)
        if self.band is not None:
            band = tuple(float(v) for v in self.band)
            if len(band) != 2 or not 0.0 <= band[0] <= t <= band[1] <= 1.0:
                raise ConfigError(f"uncertain band must be [lo, hi] with 0 <= lo <= threshold ({t}) <= hi <= 1, "
                                  f"got {list(self.band)}.")
            object.__setattr__(self, "band", band)
        names = tuple(str(n) for n in self.class_names)
        if len(names) != 2 or names[0] == names[1]:
            raise ConfigError(f"class_names must be two different names (real, fake), got {list(names)}.")
        object.__setattr__(self, "class_names", names)

    def kind(self, score: float | None) -> str:
        """``"fake"``, ``"real"``, ``"uncertain"`` or ``"no face"`` whatever the class names: what colours and
        badges follow."""
        if score is None:
            return NO_FACE
        if self.band is not None and self.band[0] <= score < self.band[1]:
            return UNCERTAIN
        return "fake" if score >= self.threshold else "real"

    def label(self, score: float | None) -> str:
        """The verdict for a score: a class name, ``"uncertain"`` or ``"no face"``."""
        kind = self.kind(score)
        if kind == "fake":
            return self.class_names[1]
        if kind == "real":
            return self.class_names[0]
        return kind

    def at(self, threshold: float | None) -> Decision:
        """This decision with a caller's own threshold; the band is widened to hold it (None: unchanged)."""
        if threshold is None:
            return self
        t = float(threshold)
        band = None if self.band is None else (min(self.band[0], t), max(self.band[1], t))
        return Decision(t, band, self.class_names)

    @property
    def band_list(self) -> list[float] | None:
        """The band as a JSON list, rounded outwards to 4 decimals (so it still holds the threshold)."""
        if self.band is None:
            return None
        return [math.floor(round(self.band[0] * 1e4, 6)) / 1e4, math.ceil(round(self.band[1] * 1e4, 6)) / 1e4]

    def to_dict(self) -> dict[str, Any]:
        return {"threshold": self.threshold, "uncertain_band": self.band_list, "class_names": list(self.class_names)}
