"""Pictures of results: faces boxed and coloured by verdict, and a P(fake) timeline for videos."""

from __future__ import annotations

import cv2
import numpy as np

from .results import ImageResult, VideoResult

RED = (220, 38, 38)
GREEN = (22, 163, 74)
AMBER = (202, 138, 4)
COLOURS = {"fake": RED, "real": GREEN, "uncertain": AMBER}


def draw_faces(rgb: np.ndarray, result: ImageResult) -> np.ndarray:
    """A copy of the image with each face boxed (red = fake, green = real, amber = uncertain) and its P(fake)."""
    out = rgb.copy()
    thick = max(2, round(max(out.shape[:2]) / 400))
    for i, face in enumerate(result.faces):
        x, y, w, h = face.box
        colour = COLOURS.get(face.label, RED if face.score >= result.threshold else GREEN)
        cv2.rectangle(out, (x, y), (x + w, y + h), colour, thick)
        text = f"#{i + 1} {face.label} {face.score:.2f}"
        scale = max(0.45, min(1.5, w / 160))
        (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, max(1, thick // 2))
        ty = y - 4 if y - th - base - 4 > 0 else y + h + th + 4
        cv2.rectangle(out, (x, ty - th - base), (x + tw + 4, ty + base // 2), colour, -1)
        cv2.putText(out, text, (x + 2, ty - base // 2), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255),
                    max(1, thick // 2), cv2.LINE_AA)
    return out


def timeline_figure(result: VideoResult):  # -> matplotlib.figure.Figure
    """P(fake) of every track over the sampled frames, with the decision threshold."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 3), dpi=100)
    ax = fig.add_subplot()
    fps = result.fps or 25.0
    for track in result.tracks:
        ax.plot([i / fps for i in track.frame_indices], track.scores, marker="o", markersize=3,
                label=f"person {track.id + 1} ({track.score:.2f})")
    for index in result.frames_without_face:
        ax.axvline(index / fps, color="0.85", linewidth=1)
    ax.axhline(result.threshold, color="k", linestyle="--", linewidth=1, label="threshold")
    ax.set_ylim(0, 1)
    ax.set_xlim(0, max(result.duration_s, 1e-3))
    ax.set_xlabel("time (s)")
    ax.set_ylabel("P(fake)")
    if result.tracks:
        ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    return fig
