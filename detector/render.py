"""Pictures of results: faces boxed and coloured by verdict, and a P(fake) timeline for videos."""

from __future__ import annotations

import cv2
import numpy as np

from .results import ImageResult, VideoResult

RED = (220, 38, 38)
GREEN = (22, 163, 74)
AMBER = (202, 138, 4)
COLOURS = {"fake": RED, "real": GREEN, "uncertain": AMBER}


def _boxed(out: np.ndarray, box: list[int], text: str, colour: tuple[int, int, int], thick: int, scale: float
           ) -> None:
    """Draw a box and its label (white on the box colour, above the box, or below it at the top edge), in place."""
    x, y, w, h = box
    cv2.rectangle(out, (x, y), (x + w, y + h), colour, thick)
    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, max(1, thick // 2))
    ty = y - 4 if y - th - base - 4 > 0 else y + h + th + 4
    cv2.rectangle(out, (x, ty - th - base), (x + tw + 4, ty + base // 2), colour, -1)
    cv2.putText(out, text, (x + 2, ty - base // 2), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255),
                max(1, thick // 2), cv2.LINE_AA)


def draw_faces(rgb: np.ndarray, result: ImageResult) -> np.ndarray:
    """A copy of the image with each face boxed (red = fake, green = real, amber = uncertain) and its P(fake)."""
    out = rgb.copy()
    thick = max(2, round(max(out.shape[:2]) / 400))
    for i, face in enumerate(result.faces):
        colour = COLOURS[result.decision.kind(face.score)]
        _boxed(out, face.box, f"#{i + 1} {face.label} {face.score:.2f}", colour, thick,
               max(0.45, min(1.5, face.box[2] / 160)))
    return out


def draw_live(rgb: np.ndarray, persons: list) -> np.ndarray:
    """A copy of a live frame with each person boxed in the colour of their smoothed verdict and numbered."""
    out = rgb.copy()
    thick = max(2, round(max(out.shape[:2]) / 300))
    for person in persons:
        _boxed(out, person.box, f"{person.id}: {person.smoothed:.0%}", COLOURS.get(person.label, AMBER), thick,
               max(0.5, min(1.2, person.box[2] / 140)))
    return out


def timeline_figure(result: VideoResult):  # -> matplotlib.figure.Figure
    """P(fake) of every track over the sampled frames, with the decision threshold."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    # small in inches, large in type: the plot is shown at 390 px wide on a phone, where an 8-inch figure's 8-point
    # legend came out about 5 px high; the legend sits below the axes so it never covers the curves
    fig = Figure(figsize=(5.2, 3.6), dpi=110)
    ax = fig.add_subplot()
    fps = result.fps or 25.0
    for track in result.tracks:
        ax.plot([i / fps for i in track.frame_indices], track.scores, marker="o", markersize=4, linewidth=1.6,
                label=f"person {track.id} ({track.score:.0%})")
    for index in result.frames_without_face:
        ax.axvline(index / fps, color="0.85", linewidth=1)
    ax.axhline(result.threshold, color="k", linestyle="--", linewidth=1, label="fake from here")
    ax.set_ylim(0, 1)
    ax.set_xlim(0, max(result.duration_s, 1e-3))
    ax.set_xlabel("time (s)", fontsize=11)
    ax.set_ylabel("P(fake) per frame", fontsize=11)
    ax.tick_params(labelsize=10)
    if result.tracks:
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.22), ncol=2, fontsize=10, frameon=False)
    fig.tight_layout()
    return fig
