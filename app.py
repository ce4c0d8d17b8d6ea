"""Gradio app: upload a photo or a video; every face is found, scored real/fake and explained with Grad-CAM.

    python app.py            # http://127.0.0.1:7860 (GRADIO_SERVER_NAME / GRADIO_SERVER_PORT override)
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np
from PIL import Image

from detector.api import Detector, default_model_path
from detector.checkpoint import read_preprocessing
from detector.config import Preprocessing
from detector.errors import DetectorError
from detector.explain import FUSED, overlay
from detector.images import load_image
from detector.render import draw_faces, timeline_figure
from detector.results import ImageResult, VideoResult
from detector.video import DEFAULT_FRAMES, MAX_FRAMES

log = logging.getLogger("app")

ROOT = Path(__file__).resolve().parent
EXAMPLES = ROOT / "assets" / "examples"
BUNDLED = "bundled default"
MAX_UPLOAD = os.environ.get("DEEPFAKE_MAX_UPLOAD", "200mb")
CONCURRENCY = int(os.environ.get("DEEPFAKE_CONCURRENCY", "2"))
LIMITS = {  # documented in the README, "Limits"
    "max_pixels": int(os.environ.get("DEEPFAKE_MAX_PIXELS", "50000000")),
    "max_faces": int(os.environ.get("DEEPFAKE_MAX_FACES", "64")),
    "max_duration_s": float(os.environ.get("DEEPFAKE_MAX_DURATION_S", "600")),
}
TOP_FRAMES = 4

DISCLAIMER = """**What a score means.** P(fake) is the model's estimate that a face was manipulated, learned from the
deepfakes it was trained on (the model card lists them and what it was measured on). It is evidence, not proof: a
detector can be wrong, especially on manipulation methods, cameras, compression and people unlike its training
data; heatmaps show where a network looked, not why it is right. Never use a verdict alone to accuse anyone or to
decide what is true."""


class OutputFiles:
    """Result images are written here and handed to Gradio as file paths. Gradio copies a file into its cache
    atomically, whereas arrays are re-encoded into a content-addressed cache file in place, which races with a
    concurrent download of the same picture (identical outputs of identical uploads). Files older than
    ``max_age_s`` are deleted on every request; Gradio's own cache is cleared by ``delete_cache``."""

    def __init__(self, folder: Path | None = None, max_age_s: float = 30.0) -> None:
        default = Path(tempfile.gettempdir()) / f"deepfake-detector-outputs-{os.getpid()}"
        self.folder = Path(os.environ.get("DEEPFAKE_OUTPUT_DIR", "") or folder or default)
        self.max_age_s = max_age_s

    def sweep(self) -> None:
        cutoff = time.time() - self.max_age_s
        for path in self.folder.glob("*.webp"):
            try:
                if path.stat().st_mtime < cutoff:
                    path.unlink()
            except FileNotFoundError:
                pass

    def save(self, rgb: np.ndarray) -> str:
        """Write an RGB image, named by its content so that identical pictures share one cached copy."""
        self.folder.mkdir(parents=True, exist_ok=True)
        buffer = io.BytesIO()
        Image.fromarray(rgb).save(buffer, "WEBP", quality=90)
        data = buffer.getvalue()
        path = self.folder / f"{hashlib.sha256(data).hexdigest()[:24]}.webp"
        staging = self.folder / f".{uuid.uuid4().hex}.part"
        staging.write_bytes(data)
        os.replace(staging, path)  # atomic: a concurrent reader sees the old or the new copy, never half
        return str(path)


class UploadedImage(gr.Image):
    """``gr.Image`` that hands the uploaded file's path to the project's own decoder, so a broken or hostile file
    gets the pipeline's clear message (and EXIF, 16-bit, CMYK... are handled the same way as in the CLI)."""

    def get_block_name(self) -> str:
        return "image"

    def preprocess(self, payload: Any) -> str | None:  # type: ignore[override]
        return None if payload is None else str(payload.path)


class ModelStore:
    """Loads each requested model once (lazily, thread-safe) and keeps it."""

    def __init__(self) -> None:
        self._models: dict[str, Detector] = {}
        self._lock = threading.Lock()

    def get(self, name: str | None) -> Detector:
        key = (name or "").strip() or BUNDLED
        with self._lock:
            if key not in self._models:
                try:
                    self._models[key] = Detector.from_pretrained(None if key == BUNDLED else key, **LIMITS)
                except DetectorError as exc:
                    raise gr.Error(f"Cannot load model {key!r}: {exc}") from exc
            return self._models[key]

    def card(self, name: str | None) -> str:
        detector = self.get(name)
        folder = Path(getattr(detector.model, "checkpoint_info", {}).get("folder", ""))
        card = folder / "README.md"
        if card.is_file():
            text = card.read_text(encoding="utf-8")
            return text.split("---", 2)[2] if text.startswith("---") else text
        return f"**{detector.name}** (no model card)"


def _bundled_settings() -> tuple[float, float]:
    """Threshold and crop margin of the bundled checkpoint, read from its config.json (no model is loaded)."""
    try:
        pre = read_preprocessing(default_model_path())
    except DetectorError:  # no bundled model: the first request says so; the sliders start at the defaults
        pre = Preprocessing()
    return pre.threshold, pre.crop_margin


def _model_choices() -> list[str]:
    folder = default_model_path().parent
    local = sorted(str(p) for p in folder.iterdir() if (p / "config.json").is_file()) if folder.is_dir() else []
    return [BUNDLED] + [c for c in local if Path(c) != default_model_path()]


def _face_gallery(result: ImageResult, files: OutputFiles) -> list[tuple[str, str]]:
    items = []
    for i, face in enumerate(result.faces):
        if face.crop is None:
            continue
        items.append((files.save(face.crop), f"face #{i + 1}: P(fake) {face.score:.3f} -> {face.label}"))
        for name, heatmap in sorted((face.heatmaps or {}).items(), key=lambda kv: (kv[0] == FUSED, kv[0])):
            items.append((files.save(overlay(face.crop, heatmap)), f"face #{i + 1}: Grad-CAM {name}"))
    return items


def _image_summary(result: ImageResult) -> str:
    if not result.faces:
        return f"### No face found\n{result.message}"
    lines = [f"### {result.label.upper()} — most suspicious face P(fake) = {result.score:.3f}",
             f"{len(result.faces)} face(s), threshold {result.threshold:.2f}, model `{result.model}`", ""]
    lines += [f"- face #{i + 1}: **{f.label}** (P(fake) {f.score:.3f})" for i, f in enumerate(result.faces)]
    if result.message:
        lines.append(f"\n{result.message}")
    return "\n".join(lines)


def _video_summary(result: VideoResult) -> str:
    head = (f"### {result.label.upper()}" + (f" — P(fake) = {result.score:.3f}" if result.score is not None else ""))
    lines = [head, f"{len(result.frames)} frames sampled of {result.duration_s:.1f} s, {len(result.tracks)} "
             f"person(s), aggregation `{result.aggregation}`, threshold {result.threshold:.2f}", ""]
    lines += [f"- person {t.id + 1}: **{t.label}** (P(fake) {t.score:.3f}, seen in {len(t.scores)} frames)"
              for t in result.tracks]
    if result.frames_without_face:
        lines.append(f"\nNo face in {len(result.frames_without_face)} sampled frame(s).")
    if result.message:
        lines.append(f"\n{result.message}")
    return "\n".join(lines)


STALE = "*Upload or settings changed: press Analyse for a result.*"


def _busy() -> Any:
    return gr.update(interactive=False)


def _ready() -> Any:
    return gr.update(interactive=True)


def _cleared_image() -> tuple[None, list, str, None]:
    return None, [], STALE, None


def _cleared_video() -> tuple[str, None, list, None]:
    return STALE, None, [], None


def build_demo(store: ModelStore | None = None) -> gr.Blocks:
    """The whole UI. Models load lazily on the first request, once."""
    store = store or ModelStore()
    files = OutputFiles()

    def analyze_image(image: str | None, whole_image: bool, model: str, threshold: float, face_conf: float,
                      margin: float) -> tuple[Any, list, str, dict]:
        if not image:
            raise gr.Error("Upload a photo first.")
        files.sweep()
        detector = store.get(model)
        try:
            rgb = load_image(image, detector.max_pixels)
            result = detector.analyze_image(rgb, explain=True, whole_image=whole_image, threshold=threshold,
                                            min_face_confidence=face_conf, crop_margin=margin)
        except DetectorError as exc:
            raise gr.Error(str(exc)) from exc
        return (files.save(draw_faces(rgb, result)), _face_gallery(result, files), _image_summary(result),
                result.to_dict())

    def analyze_video(video: str | None, model: str, threshold: float, frames: int, face_conf: float,
                      margin: float, aggregation: str, progress: gr.Progress = gr.Progress()
                      ) -> tuple[str, Any, list, dict]:
        if not video:
            raise gr.Error("Upload a video first.")
        files.sweep()
        detector = store.get(model)
        try:
            result = detector.analyze_video(
                video, frames=int(frames), aggregation=aggregation, threshold=threshold, keep_crops=True,
                min_face_confidence=face_conf, crop_margin=margin,
                progress=lambda done, total: progress(done / max(total, 1), desc="sampling frames"))
        except DetectorError as exc:
            raise gr.Error(str(exc)) from exc
        gallery = []
        faces = sorted(((f, fr) for fr in result.frames for f in fr.faces), key=lambda p: -p[0].score)[:TOP_FRAMES]
        if faces:
            crops = np.stack([f.crop for f, _ in faces])
            for (face, frame), maps in zip(faces, detector.explain_crops(crops)):
                caption = f"t={frame.time_s:.1f}s P(fake) {face.score:.3f}"
                gallery += [(files.save(face.crop), caption),
                            (files.save(overlay(face.crop, maps[FUSED])), f"{caption} Grad-CAM fused")]
        data = result.to_dict()
        return _video_summary(result), timeline_figure(result), gallery, data

    def settings_of(model_name: str) -> tuple[Any, Any]:
        """A model change brings that checkpoint's own threshold and crop margin into the settings."""
        pre = store.get(model_name).pre
        return gr.update(value=pre.threshold), gr.update(value=pre.crop_margin)

    default_threshold, default_margin = _bundled_settings()
    with gr.Blocks(title="Deepfake detector", delete_cache=(1800, 3600)) as demo:
        gr.Markdown("# Deepfake detector\nEvery face is found, scored real/fake by a feature-level fusion of CNNs, "
                    "and Grad-CAM heatmaps show what each network looked at.")
        with gr.Row():
            model = gr.Dropdown(_model_choices(), value=BUNDLED, label="Model (or a checkpoint folder / Hub repo id)",
                                allow_custom_value=True, scale=3)
            show_card = gr.Button("Show model card", scale=1)
        card = gr.Markdown()
        with gr.Accordion("Settings", open=False):
            threshold = gr.Slider(0.01, 0.99, value=default_threshold, step=0.01,
                                  label="Decision threshold (P(fake) >= is fake; the model's own by default)")
            frames = gr.Slider(1, MAX_FRAMES, value=DEFAULT_FRAMES, step=1, label="Video frames to sample")
            face_conf = gr.Slider(0.05, 0.95, value=0.5, step=0.05, label="Face detector confidence")
            margin = gr.Slider(0.8, 2.5, value=default_margin, step=0.05,
                               label="Crop margin (x face box; the model's training crops by default)")
            aggregation = gr.Radio(["mean", "confident", "max"], value="mean", label="Video: per-person aggregation")
        with gr.Tab("Photo"):
            with gr.Row():
                with gr.Column():
                    image_in = UploadedImage(type="filepath", label="Photo", sources=["upload", "webcam", "clipboard"])
                    whole = gr.Checkbox(False, label="Analyse the whole image as one face (pre-cropped faces)")
                    image_btn = gr.Button("Analyse photo", variant="primary")
                with gr.Column():
                    image_out = gr.Image(label="Faces", type="filepath", elem_id="faces-image")
                    image_summary = gr.Markdown(elem_id="image-summary")
            image_gallery = gr.Gallery(label="Faces and Grad-CAM per network", columns=4, elem_id="image-gallery")
            image_json = gr.JSON(label="Result (JSON)")
            examples = sorted(str(p) for p in EXAMPLES.glob("*.jpg")) if EXAMPLES.is_dir() else []
            if examples:
                gr.Examples(examples, inputs=image_in)
        with gr.Tab("Video"):
            with gr.Row():
                with gr.Column():
                    video_in = gr.Video(label="Video", sources=["upload"])
                    video_btn = gr.Button("Analyse video", variant="primary")
                with gr.Column():
                    video_summary = gr.Markdown(elem_id="video-summary")
                    video_plot = gr.Plot(label="P(fake) over time")
            video_gallery = gr.Gallery(label="Most suspicious faces", columns=4)
            video_json = gr.JSON(label="Result (JSON)")
            videos = sorted(str(p) for p in EXAMPLES.glob("*.webm")) if EXAMPLES.is_dir() else []
            if videos:
                gr.Examples(videos, inputs=video_in)
        gr.Markdown(DISCLAIMER)

        image_outputs = [image_out, image_gallery, image_summary, image_json]
        video_outputs = [video_summary, video_plot, video_gallery, video_json]

        # the button is disabled while its run is in flight, and enabled again whether the run worked or not
        run = (image_btn.click(_busy, None, image_btn, api_name=False)
               .then(analyze_image, [image_in, whole, model, threshold, face_conf, margin], image_outputs,
                     api_name="analyze_image"))
        run.success(_ready, None, image_btn, api_name=False)
        run.failure(_ready, None, image_btn, api_name=False)
        run = (video_btn.click(_busy, None, video_btn, api_name=False)
               .then(analyze_video, [video_in, model, threshold, frames, face_conf, margin, aggregation],
                     video_outputs, api_name="analyze_video"))
        run.success(_ready, None, video_btn, api_name=False)
        run.failure(_ready, None, video_btn, api_name=False)
        # no stale state: a new upload, another model or a changed setting clears the results it no longer matches
        image_in.change(_cleared_image, None, image_outputs, api_name=False)
        video_in.change(_cleared_video, None, video_outputs, api_name=False)
        for control in (whole, model, threshold, face_conf, margin):
            control.change(_cleared_image, None, image_outputs, api_name=False)
        for control in (model, threshold, frames, face_conf, margin, aggregation):
            control.change(_cleared_video, None, video_outputs, api_name=False)
        show_card.click(store.card, [model], [card], api_name="model_card")
        model.change(store.card, [model], [card], api_name=False)
        model.change(settings_of, [model], [threshold, margin], api_name=False)
    return demo


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    demo = build_demo()
    demo.queue(default_concurrency_limit=CONCURRENCY, max_size=64).launch(
        server_name=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
        server_port=int(os.environ.get("GRADIO_SERVER_PORT", "7860")),
        max_file_size=MAX_UPLOAD,
        footer_links=["api"],
    )


if __name__ == "__main__":
    main()
