"""Gradio app: upload a photo or a video; every face is found, scored real/fake and explained with Grad-CAM.

    python app.py            # http://127.0.0.1:7860 (GRADIO_SERVER_NAME / GRADIO_SERVER_PORT override)
"""

from __future__ import annotations

import atexit
import base64
import hashlib
import html
import io
import logging
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
import uuid
from collections import OrderedDict
from dataclasses import replace
from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np
from PIL import Image
from starlette.routing import Mount

from detector.api import Detector, default_model_path
from detector.checkpoint import is_repo_id, read_preprocessing, resolve_checkpoint, resolve_hub
from detector.config import Preprocessing
from detector.decision import Decision
from detector.errors import CheckpointError, DetectorError, WrongMediaError
from detector.explain import FUSED, overlay
from detector.images import load_image
from detector.live import LiveSession
from detector.private_page import HEADERS as PAGE_HEADERS
from detector.private_page import CachedPage, PageError
from detector.render import draw_faces, draw_live, timeline_figure
from detector.results import ImageResult, VideoResult
from detector.video import AGGREGATIONS, MAX_FRAMES

log = logging.getLogger("app")

ROOT = Path(__file__).resolve().parent
EXAMPLES = ROOT / "assets" / "examples"
BUNDLED = "bundled default"
EVIDENCE_PER_PERSON = 2  # a person's most suspicious frames shown with heatmaps
MAX_UPLOAD = os.environ.get("DEEPFAKE_MAX_UPLOAD", "200mb")
CONCURRENCY = int(os.environ.get("DEEPFAKE_CONCURRENCY", "2"))
LIMITS = {  # documented in the README, "Limits"
    "max_pixels": int(os.environ.get("DEEPFAKE_MAX_PIXELS", "50000000")),
    "max_faces": int(os.environ.get("DEEPFAKE_MAX_FACES", "64")),
    "max_duration_s": float(os.environ.get("DEEPFAKE_MAX_DURATION_S", "600")),
}
# (file, short label, caption, what the bundled model answers): made by assets/make_examples.py from a public-domain
# photo inside scikit-image. The examples show what the tool does: tests/test_default_model.py checks that the
# bundled model gives each one the answer its label promises; a known miss is offered only captioned as one.
EXAMPLE_PHOTOS = [
    (EXAMPLES / "astronaut.jpg", "Real photo (the model: real)",
     "NASA portrait of Eileen Collins (public domain, from scikit-image).", "real"),
    (EXAMPLES / "astronaut-airbrushed.png", "Fake made here (the model: fake)",
     "The same photo with the face alone airbrushed (a strong edge-preserving filter, four passes), its tone shifted "
     "and blended back inside a soft face mask by this project's own code (`assets/make_examples.py`): a waxy, "
     "off-tone face in a sharp photo.", "fake"),
    (EXAMPLES / "astronaut-blended.jpg", "Fake made here, a known miss (the model: real)",
     "The face blended with a colour- and shape-shifted copy of itself (self-blending, `train/sbi.py`): a kind of "
     "edit the bundled model does not recognise, shown so that its limits are visible too.", "real"),
]
EXAMPLE_VIDEOS = [
    (EXAMPLES / "clip.webm", "Real clip (the model: real)",
     "3 s made from the real portrait moving across a plain background.", "real"),
]


def _examples(entries: list[tuple[Path, str, str, str]], component: Any, fn: Any, outputs: list) -> None:
    """Captioned examples that run when clicked (the files assets/make_examples.py made; absent ones are left out)."""
    entries = [e for e in entries if e[0].is_file()]
    if not entries:
        return
    gr.Examples([[str(path)] for path, *_ in entries], inputs=[component], example_labels=[e[1] for e in entries],
                label="Examples (click to run)", fn=fn, run_on_click=True, cache_examples=False, outputs=outputs,
                api_name=False)
    gr.Markdown("\n".join(f"- **{label}**: {caption}" for _, label, caption, _ in entries),
                elem_classes=["example-captions"])


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

    def remove(self) -> None:
        """Delete the folder and everything in it (at exit, SIGTERM included: see :func:`main`)."""
        shutil.rmtree(self.folder, ignore_errors=True)

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


def uploaded_image(**kwargs: Any) -> gr.Image:
    """``gr.Image`` that hands the uploaded file's path to the project's own decoder, so a broken or hostile file
    gets the pipeline's clear message (and EXIF, 16-bit, CMYK... are handled the same way as in the CLI). The
    instance's ``preprocess`` is replaced rather than subclassing: Gradio writes a ``.pyi`` stub beside the source of
    every component subclass, which would put a file into the source tree at each start."""
    component = gr.Image(type="filepath", **kwargs)
    component.preprocess = lambda payload: None if payload is None else str(payload.path)  # type: ignore[method-assign]
    return component


MODELS_ROOT_ENV = "DEEPFAKE_MODELS_ROOT"


class ModelStore:
    """The models the Model box may load, each loaded lazily and kept in a small LRU.

    A public page takes any text here, so the box accepts only: the bundled model (and the checkpoints beside it in
    ``assets/models``), Hugging Face repo ids (resolved through the Hub, never as local paths), and checkpoint folders
    under one models root (``$DEEPFAKE_MODELS_ROOT``). Any other text gets the same refusal whether or not such a path
    exists. Models are cached under their resolved checkpoint folder, not the typed text, so spellings of one model
    share one copy, and at most ``size`` models stay loaded (``$DEEPFAKE_MODEL_CACHE``, default 2).
    """

    def __init__(self, size: int | None = None, models_root: str | os.PathLike | None = None) -> None:
        self.size = max(1, int(size or os.environ.get("DEEPFAKE_MODEL_CACHE", "2")))
        root = models_root if models_root is not None else os.environ.get(MODELS_ROOT_ENV, "")
        self.roots = [default_model_path().parent.resolve()] + ([Path(root).expanduser().resolve()] if root else [])
        self._models: OrderedDict[Path, Detector] = OrderedDict()
        self._hub: OrderedDict[str, Path] = OrderedDict()  # repo id -> snapshot folder, bounded like the models
        self._lock = threading.Lock()

    def refusal(self, text: str) -> str:
        roots = f" or a checkpoint folder under {self.roots[1]}" if len(self.roots) > 1 else ""
        return (f"{text!r} is not a model this server loads. Choose the bundled model, a Hugging Face repo id "
                f"(owner/name){roots}; a server administrator can allow a folder with ${MODELS_ROOT_ENV}.")

    def resolve(self, name: str | None) -> Path:
        """The checkpoint folder a Model-box text stands for; one message for everything refused."""
        text = (name or "").strip()
        if not text or text == BUNDLED:
            return default_model_path()
        raw = Path(text)
        for root in self.roots:
            if ".." in raw.parts:
                break
            try:
                candidate = (raw if raw.is_absolute() else root / raw).resolve()  # links followed: no way out
            except (OSError, RuntimeError):
                continue
            if candidate != root and candidate.is_relative_to(root) and (raw.is_absolute() or candidate.is_dir()):
                return resolve_checkpoint(candidate)  # only what lies inside an allowed root is looked at
        if is_repo_id(text):
            with self._lock:
                cached = self._hub.get(text)
            if cached is None:
                cached = resolve_hub(text)
                with self._lock:
                    self._hub[text] = cached
                    while len(self._hub) > 32:
                        self._hub.popitem(last=False)
            return cached
        raise CheckpointError(self.refusal(text))

    def get(self, name: str | None) -> Detector:
        label = (name or "").strip() or BUNDLED
        try:
            folder = self.resolve(name)
            key = folder.resolve()
            with self._lock:
                if key in self._models:
                    self._models.move_to_end(key)
                    return self._models[key]
                detector = Detector.from_pretrained(folder, **LIMITS)
                self._models[key] = detector
                while len(self._models) > self.size:
                    self._models.popitem(last=False)
                return detector
        except DetectorError as exc:
            raise type(exc)(f"Cannot load model {label!r}: {exc}") from exc

    def card(self, name: str | None) -> str:
        detector = self.get(name)
        folder = Path(getattr(detector.model, "checkpoint_info", {}).get("folder", ""))
        card = folder / "README.md"
        if card.is_file():
            text = card.read_text(encoding="utf-8")
            return text.split("---", 2)[2] if text.startswith("---") else text
        return f"**{detector.name}** (no model card)"


def _bundled_settings() -> Preprocessing:
    """Threshold, crop margin, video frames and aggregation of the bundled checkpoint, from its config.json (no
    model loaded); video frames and aggregation from its checkpoint for videos when it has one."""
    try:
        own, video = read_preprocessing(default_model_path()), read_preprocessing(default_model_path(), video=True)
        return replace(own, video_frames=video.video_frames, video_aggregation=video.video_aggregation)
    except DetectorError:  # no bundled model: the first request says so; the sliders start at the defaults
        return Preprocessing()


def _model_choices() -> list[str]:
    folder = default_model_path().parent
    local = sorted(str(p) for p in folder.iterdir() if (p / "config.json").is_file()) if folder.is_dir() else []
    return [BUNDLED] + [c for c in local if Path(c) != default_model_path()]


VERDICTS = {"fake": ("Likely fake", "fake"), "uncertain": ("Uncertain", "uncertain"), "real": ("Likely real", "real"),
            "no face": ("No face found", "none")}
JET = "#00008f, #0000ff, #00ffff, #ffff00, #ff0000, #800000"  # Grad-CAM overlays use the jet colour map
CSS = (Path(__file__).resolve().parent / "detector" / "web" / "verdict.css").read_text(encoding="utf-8") + """
.example-captions {font-size: 0.88em}
.legend {display: flex; flex-wrap: wrap; align-items: center; gap: 0.5em; font-size: 0.9em; margin: 0.4em 0}
.ramp {display: inline-block; width: 140px; height: 12px; border-radius: 3px;
       background: linear-gradient(to right, JET)}
#model-card table {display: block; overflow-x: auto; max-width: 100%}
.gradio-container {max-width: 100vw !important}
.live-person {display: flex; flex-wrap: wrap; align-items: center; gap: 0.4em}
.live-speed {font-variant-numeric: tabular-nums}
.private-link {font-size: 0.95em}
""".replace("JET", JET)


def badge(label: str, score: float | None, big: bool = False) -> str:
    """Likely real / Uncertain / Likely fake, with the probability as a whole percentage."""
    words, cls = VERDICTS.get(label, (label, "none"))
    pct = "" if score is None else f" · {score * 100:.0f}%"
    return f'<span class="badge badge-{cls}{" big" if big else ""}">{html.escape(words)}{pct}</span>'


def _band_text(decision: Decision) -> str:
    text = f"“Likely fake” from {decision.threshold * 100:.0f}%"
    if decision.band:
        text += f"; “Uncertain” from {decision.band[0] * 100:.0f}% to {decision.band[1] * 100:.0f}%"
    return text + "."


def _scope_html(scope: str | None) -> str:
    scope = scope or "This model's card does not say what it covers; read it in the Model tab before trusting a score."
    return (f'<p class="scope"><b>Scope:</b> {html.escape(scope)} <br><i>A score is evidence, not proof: never use it '
            "alone to accuse anyone. Full text below and in the Model tab.</i></p>")


def _data_uri(rgb: np.ndarray) -> str:
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, "WEBP", quality=88)
    return "data:image/webp;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _figure(rgb: np.ndarray, caption: str) -> str:
    caption = html.escape(caption)
    return f'<figure><img src="{_data_uri(rgb)}" alt="{caption}"><figcaption>{caption}</figcaption></figure>'


def _legend() -> str:
    return ('<div class="legend"><b>Heatmap colours</b> (Grad-CAM): <span>little influence</span>'
            '<span class="ramp"></span><span>most influence on the fake score</span></div>')


def _cam_figures(crop: np.ndarray, heatmaps: dict[str, np.ndarray], prefix: str) -> str:
    ordered = sorted(heatmaps.items(), key=lambda kv: (kv[0] == FUSED, kv[0]))
    return "".join(_figure(overlay(crop, m), f"{prefix}{'all networks (fused)' if name == FUSED else name}")
                   for name, m in ordered)


def _verdict_box(label: str, score: float | None, lines: list[str], scope: str | None) -> str:
    """The big badge, the sentences that explain it, the model's scope and the disclaimer."""
    text = "".join(f"<p>{html.escape(line)}</p>" for line in lines if line)
    return f'<div class="verdict-box" id="verdict">{badge(label, score, big=True)}{text}{_scope_html(scope)}</div>'


def image_verdict(result: ImageResult, scope: str | None) -> str:
    if not result.faces:
        return _verdict_box("no face", None, [result.message], scope)
    top = result.top_face
    n = len(result.faces)
    if result.whole_image:
        which = "The whole image, analysed as one face:"
    else:
        which = "One face was found:" if n == 1 else f"Face {top + 1} of {n} is the most suspicious:"
    detail = (f"{which} the model's estimate that it is fake is {result.score * 100:.0f}%. "
              + _band_text(result.decision))
    return _verdict_box(result.label, result.score, [detail, _edge_text(result), result.message], scope)


EDGE_NOTE = "Cut by the photo's edge: shown, but not counted in the photo's verdict."


def _edge_text(result: ImageResult) -> str:
    """Why some faces did not decide the verdict (faces cut by the photo's edge, while a whole face is there)."""
    left_out = [i + 1 for i, f in enumerate(result.faces) if not result.decides(f)]
    if not left_out:
        return ""
    names = ", ".join(str(i) for i in left_out)
    return (f"{'Face' if len(left_out) == 1 else 'Faces'} {names} {'is' if len(left_out) == 1 else 'are'} cut by "
            "the photo's edge and not counted in the verdict: the model is unreliable on a face it sees only in "
            "part.")


def face_cards(result: ImageResult) -> str:
    """One card per face, numbered as the boxes are: the crop, one heatmap per network and the fused one."""
    if not result.faces:
        return ""
    cards = []
    for i, face in enumerate(result.faces, start=1):
        figures = _figure(face.crop, f"face {i}") if face.crop is not None else ""
        if face.crop is not None and face.heatmaps:
            figures += _cam_figures(face.crop, face.heatmaps, "")
        note = "" if result.decides(face) else f'<p class="edge-note">{html.escape(EDGE_NOTE)}</p>'
        cards.append(f'<div class="card face-card"><div class="card-head"><b>Face {i}</b>'
                     f"{badge(face.label, face.score)}</div>{note}<div class=\"card-imgs\">{figures}</div></div>")
    return f'{_legend()}<div class="cards">{"".join(cards)}</div>'


def video_verdict(result: VideoResult, scope: str | None) -> str:
    seen = (f"{len(result.frames)} frames sampled from {result.duration_s:.1f} s; "
            f"{len(result.tracks)} person(s) seen.")
    if result.score is None or result.top_track is None:
        return _verdict_box("no face", None, [f"{seen} {result.message}"], scope)
    track = next(t for t in result.tracks if t.id == result.top_track)
    detail = (f"Person {track.id} is the most suspicious: the {result.aggregation} of their {len(track.scores)} "
              f"frames is {track.score * 100:.0f}% (highest single frame {max(track.scores) * 100:.0f}%). {seen} "
              + _band_text(result.decision))
    return _verdict_box(result.label, result.score, [detail, result.message], scope)


def person_cards(result: VideoResult) -> str:
    """One row per person: thumbnail (their most suspicious frame), badge, score, and their evidence frames with
    heatmaps (chosen by ``Detector.analyze_video(explain=k)``)."""
    if not result.tracks:
        return ""
    rows = []
    for track in sorted(result.tracks, key=lambda t: -t.score):
        items = [e for e in track.evidence if e.face.crop is not None]
        thumb = f'<img class="thumb" src="{_data_uri(items[0].face.crop)}" alt="person {track.id}">' if items else ""
        figures = "".join(
            _figure(e.face.crop, f"person {track.id}, t={e.time_s:.1f}s, {e.face.score * 100:.0f}%")
            + (_cam_figures(e.face.crop, e.face.heatmaps, f"person {track.id}: ") if e.face.heatmaps else "")
            for e in items)
        rows.append(f'<div class="card person">{thumb}<div><div class="card-head"><b>Person {track.id}</b>'
                    f"{badge(track.label, track.score)}</div><p>{result.aggregation} of {len(track.scores)} frames; "
                    f"highest frame {max(track.scores) * 100:.0f}%</p></div>"
                    f'<div class="card-imgs">{figures}</div></div>')
    return f'{_legend()}<div class="cards">{"".join(rows)}</div>'


LIVE_EVERY_S = float(os.environ.get("DEEPFAKE_LIVE_EVERY_S", "0.066"))  # the browser sends a frame this often
LIVE_LIMIT_S = int(os.environ.get("DEEPFAKE_LIVE_LIMIT_S", "300"))  # one session's stream ends after this
LIVE_SESSIONS = int(os.environ.get("DEEPFAKE_LIVE_SESSIONS", "4"))  # live streams served at once
LIVE_HINT = '<p class="hint" id="live-hint">Press the camera button to start: verdicts appear here.</p>'
# the Live tab checks the camera itself, so an absent or refused camera gets a sentence rather than a blank box
CAMERA_CHECK = """async () => {
  const note = document.querySelector('#live-camera-note');
  if (!note) return;
  let msg = '';
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    msg = 'This browser gives the page no camera access (it needs HTTPS or localhost, and a browser with a camera ' +
          'API). Use the Photo or Video tab instead.';
  } else {
    try {
      const devices = await navigator.mediaDevices.enumerateDevices();
      if (!devices.some(d => d.kind === 'videoinput')) {
        msg = 'No camera was found on this device. Connect one and reload, or use the Photo or Video tab.';
      } else {
        const s = await navigator.mediaDevices.getUserMedia({video: true});
        s.getTracks().forEach(t => t.stop());
      }
    } catch (e) {
      msg = (e && e.name === 'NotAllowedError')
        ? 'The camera was refused. Allow it for this site (the camera icon in the address bar) and reload.'
        : 'The camera could not be opened (' + ((e && e.message) || e) + '). Close other apps using it and reload.';
    }
  }
  note.textContent = msg;
  note.style.display = msg ? 'block' : 'none';
}"""


def live_verdict_html(persons: list, detector: Detector, fps: float, latency_ms: float) -> str:
    """Each person's badge (smoothed P(fake)), how many frames it rests on, and the speed."""
    speed = f'<p class="live-speed">{fps:.1f} frames/s processed · {latency_ms:.0f} ms per frame</p>'
    if not persons:
        return f'<div class="verdict-box live">{badge("no face", None, big=True)}{speed}</div>'
    top = max(persons, key=lambda p: p.smoothed)
    rows = "".join(f'<p class="live-person" data-person="{p.id}" data-label="{p.label}"><b>Person {p.id}</b> '
                   f"{badge(p.label, p.smoothed)} <span class=\"hint\">over {p.frames} frames</span></p>"
                   for p in persons)
    return (f'<div class="verdict-box live" data-label="{top.label}">{badge(top.label, top.smoothed, big=True)}'
            f"{rows}{speed}<p class=\"hint\">{html.escape(_band_text(detector.decision()))}"
            "</p></div>")


HINT_IMAGE = ('<p class="hint" id="verdict-hint">Upload a photo (or click an example) and press '
              '<b>Analyse photo</b>.</p>')
HINT_VIDEO = ('<p class="hint" id="verdict-hint">Upload a video (or click the example) and press '
              '<b>Analyse video</b>.</p>')
STALE = '<p class="hint" id="verdict-hint">Upload or settings changed: press <b>Analyse</b> for a result.</p>'
SCROLL_TO_VERDICT = "() => { document.querySelector('#{id} .verdict-box')?.scrollIntoView({block: 'nearest'}); }"


def _error_box(message: str) -> str:
    return f'<div class="input-error" role="alert">{html.escape(message)}</div>'


def error_controls(data: dict | None) -> tuple[Any, Any]:
    """The error (or no-face) note beside the input, and the whole-image run it offers when no face was found."""
    data = data or {}
    message, no_face = data.get("error"), data.get("label") == "no face" and not data.get("whole_image")
    if no_face:
        message = (data.get("message") or "No face was found.") + " If the photo is already a face crop, analyse it " \
            "as one face:"
    elif data.get("error_kind") == "other tab":
        other = "Video" if data.get("is") == "video" else "Photo"
        message = f"{message} Use the button below to open the {other} tab."
    if not message:
        return gr.update(value="", visible=False), gr.update(visible=False)
    return gr.update(value=_error_box(message), visible=True), gr.update(visible=no_face)


def video_error_controls(data: dict | None) -> Any:
    return error_controls(data)[0]


def _failure(exc: DetectorError) -> dict:
    """An error as a result the page shows beside the input, where it stays (the toast of gr.Error would vanish)."""
    if isinstance(exc, WrongMediaError):  # a video in the photo tab, or the reverse
        return {"error": str(exc), "error_kind": "other tab", "is": exc.kind}  # page advice is added by the page
    return {"error": str(exc), "error_kind": "input"}


def _cleared_image() -> tuple:
    return (STALE, None, "", None, *error_controls(None))


def _cleared_video() -> tuple:
    return (STALE, None, "", None, video_error_controls(None))


def _busy() -> Any:
    return gr.update(interactive=False)


def _ready() -> Any:
    return gr.update(interactive=True)


def _result_tab(kind: str, hint: str, side: Any, build_inputs: Any) -> tuple[list, tuple]:
    """One tab's layout: the verdict on top (first screen, on a phone too), the input column beside the picture of
    the result, then the cards and the JSON. Returns the outputs ``[verdict, side, cards, json]`` and the inputs."""
    verdict = gr.HTML(hint, elem_id=f"{kind}-verdict")
    # every new verdict scrolls into view (Analyse and a clicked example alike; on a phone it is below the input)
    verdict.change(None, js=SCROLL_TO_VERDICT.replace("{id}", f"{kind}-verdict"), api_name=False)
    cards = gr.HTML(elem_id=f"{kind}-cards", render=False)
    data = gr.JSON(label="Result (JSON)", render=False)
    outputs = [verdict, side, cards, data]
    with gr.Row(equal_height=False):
        with gr.Column(min_width=300):
            inputs = build_inputs(outputs)
        with gr.Column(min_width=300):
            side.render()
    cards.render()
    with gr.Accordion("Result as JSON", open=False):
        data.render()
    return outputs, inputs


class LiveHandler:
    """The Live tab's handler, one call per camera frame: faces boxed and numbered, each person's smoothed verdict,
    the speed. Per-session state (the tracker) travels in a ``gr.State``. A frame that arrives while the previous one
    of the same session is still being scored is dropped, not queued. ``benchmarks/live.py`` replays clips through
    this very object."""

    def __init__(self, store: ModelStore) -> None:
        self.store = store
        self.__name__ = "live_step"  # Gradio names the event after its function

    def __call__(self, frame: np.ndarray | None, state: dict | None, model: str = BUNDLED, face_conf: float = 0.5
                 ) -> tuple[Any, Any, dict | None]:
        if frame is None:
            return gr.skip(), LIVE_HINT, state
        try:
            detector = self.store.get(model)
        except DetectorError as exc:
            return gr.skip(), _error_box(str(exc)), state
        if state is None or state.get("model") != model:
            state = {"model": model, "session": LiveSession(detector), "busy": threading.Lock()}
        if not state["busy"].acquire(blocking=False):
            return gr.skip(), gr.skip(), state
        try:
            rgb = load_image(frame, detector.max_pixels)
            done = state["session"].step(rgb, min_face_confidence=face_conf)
            return (draw_live(rgb, done.persons), live_verdict_html(done.persons, detector, done.fps, done.latency_ms),
                    state)
        except DetectorError as exc:
            return gr.skip(), _error_box(str(exc)), state
        finally:
            state["busy"].release()


def build_demo(store: ModelStore | None = None, files: OutputFiles | None = None) -> gr.Blocks:
    """The whole UI. Models load lazily on the first request, once."""
    store = store or ModelStore()
    files = files or OutputFiles()

    def analyze_image(image: str | None, whole_image: bool = False, model: str = BUNDLED,
                      threshold: float | None = None, face_conf: float = 0.5, margin: float | None = None
                      ) -> tuple[str, Any, str, dict]:
        if not image:
            return HINT_IMAGE, None, "", {"error": "Upload a photo first.", "error_kind": "input"}
        try:
            detector = store.get(model)
            rgb = load_image(image, detector.max_pixels)
            result = detector.analyze_image(rgb, explain=True, whole_image=whole_image, threshold=threshold,
                                            min_face_confidence=face_conf, crop_margin=margin, name=Path(image).name)
        except DetectorError as exc:
            return HINT_IMAGE, None, "", _failure(exc)
        files.sweep()
        return (image_verdict(result, detector.scope), files.save(draw_faces(rgb, result)), face_cards(result),
                result.to_dict())

    def analyze_video(video: str | None, model: str = BUNDLED, threshold: float | None = None,
                      frames: int | None = None, face_conf: float = 0.5, margin: float | None = None,
                      aggregation: str | None = None, progress: gr.Progress = gr.Progress()
                      ) -> tuple[str, Any, str, dict]:
        if not video:
            return HINT_VIDEO, None, "", {"error": "Upload a video first.", "error_kind": "input"}
        try:
            detector = store.get(model)
            if threshold is not None and abs(float(threshold) - detector.pre.threshold) < 1e-9:
                threshold = None  # the slider at the model's own value: clips use the model's clip-level calibration
            result = detector.analyze_video(
                video, frames=None if frames is None else int(frames), aggregation=aggregation, threshold=threshold,
                min_face_confidence=face_conf, crop_margin=margin, explain=EVIDENCE_PER_PERSON,
                progress=lambda done, total: progress(done / max(total, 1), desc="frames, then heatmaps"))
        except DetectorError as exc:
            return HINT_VIDEO, None, "", _failure(exc)
        return (video_verdict(result, detector.scope), timeline_figure(result), person_cards(result),
                result.to_dict())

    def example_photo(image: str) -> tuple[str, Any, str, dict]:
        """A clicked example runs with the bundled model's own settings."""
        return analyze_image(image)

    def example_clip(video: str, progress: gr.Progress = gr.Progress()) -> tuple[str, Any, str, dict]:
        return analyze_video(video, progress=progress)

    def settings_of(model_name: str) -> tuple[Any, Any, Any, Any]:
        """A model change brings that checkpoint's own threshold, crop margin, video frames and aggregation into the
        settings."""
        try:
            pre = store.get(model_name).pre
        except DetectorError:
            return gr.update(), gr.update(), gr.update(), gr.update()
        return (gr.update(value=pre.threshold), gr.update(value=pre.crop_margin), gr.update(value=pre.video_frames),
                gr.update(value=pre.video_aggregation))

    def card_of(model_name: str) -> str:
        try:
            return store.card(model_name)
        except DetectorError as exc:
            return f"**Cannot load model:** {exc}"

    def photo_inputs(outputs: list) -> tuple:
        image_in = uploaded_image(label="Photo", height=320, sources=["upload", "webcam", "clipboard"])
        image_btn = gr.Button("Analyse photo", variant="primary")
        image_error = gr.HTML(visible=False, elem_id="image-error")
        whole_btn = gr.Button("Analyse the whole image as one face", visible=False)
        to_video_btn = gr.Button("Have a video? Open the Video tab", size="sm", variant="secondary")
        whole = gr.Checkbox(False, label="Whole image is one face (already-cropped faces)")
        _examples(EXAMPLE_PHOTOS, image_in, example_photo, outputs)
        return image_in, image_btn, image_error, whole_btn, to_video_btn, whole

    def video_inputs(outputs: list) -> tuple:
        video_in = gr.Video(label="Video", sources=["upload"], height=320)
        video_btn = gr.Button("Analyse video", variant="primary")
        video_error = gr.HTML(visible=False, elem_id="video-error")
        to_photo_btn = gr.Button("Have a photo? Open the Photo tab", size="sm", variant="secondary")
        _examples(EXAMPLE_VIDEOS, video_in, example_clip, outputs)
        return video_in, video_btn, video_error, to_photo_btn

    bundled = _bundled_settings()
    with gr.Blocks(title="Deepfake detector", delete_cache=(1800, 3600)) as demo:
        gr.Markdown("# Deepfake detector\nEvery face is found, scored real/fake by a fusion of CNNs, and heatmaps "
                    "show what each network looked at.")
        gr.HTML('<p class="private-link" id="private-link">Rather not upload? <a href="private/" target="_blank" '
                'rel="noopener"><b>Private mode</b></a>: the same model runs inside your browser and nothing leaves '
                'your device (photos and videos; no heatmaps).</p>')
        with gr.Tabs() as tabs:
            with gr.Tab("Photo", id="photo"):
                image_outputs, (image_in, image_btn, image_error, whole_btn, to_video_btn, whole) = _result_tab(
                    "image", HINT_IMAGE, gr.Image(label="Faces found (numbered as the cards below)", type="filepath",
                                                  elem_id="faces-image", render=False), photo_inputs)
            with gr.Tab("Video", id="video"):
                video_outputs, (video_in, video_btn, video_error, to_photo_btn) = _result_tab(
                    "video", HINT_VIDEO, gr.Plot(label="Fake score over time, per person", render=False), video_inputs)
            with gr.Tab("Live", id="live") as live_tab:
                gr.Markdown("Point your camera at a face (or a screen showing one) and press the camera's record "
                            "button: every face is boxed and numbered, and each person's verdict settles as frames "
                            "add up (*Uncertain* until a person has been seen in a few frames). Frames are scored as "
                            "they arrive and dropped when the server is behind, never queued. No heatmaps here.")
                gr.HTML('<p id="live-camera-note" class="input-error" role="alert" style="display:none">'
                                    "</p>")
                with gr.Row(equal_height=False):
                    with gr.Column(min_width=300):
                        live_in = gr.Image(sources=["webcam"], streaming=True, type="numpy", label="Camera",
                                           elem_id="live-camera")
                    with gr.Column(min_width=300):
                        live_verdict = gr.HTML(LIVE_HINT, elem_id="live-verdict")
                        live_out = gr.Image(label="Faces found", format="jpeg", elem_id="live-frame",
                                            interactive=False)
                live_state = gr.State(None)
            with gr.Tab("Model", id="model"):  # short: four tabs fit a phone's width
                model = gr.Dropdown(_model_choices(), value=BUNDLED, allow_custom_value=True,
                                    label="Model (or a Hugging Face repo id owner/name, or a folder under the "
                                          "models root)")
                with gr.Accordion("Settings (the model's own values by default)", open=True):
                    threshold = gr.Slider(0.01, 0.99, value=bundled.threshold, step=0.01,
                                          label="Decision threshold: a fake score at or above it is 'fake'")
                    frames = gr.Slider(1, MAX_FRAMES, value=bundled.video_frames, step=1,
                                       label="Video frames to sample (the model's own number by default)")
                    face_conf = gr.Slider(0.05, 0.95, value=0.5, step=0.05, label="Face detector confidence")
                    margin = gr.Slider(0.8, 2.5, value=bundled.crop_margin, step=0.05,
                                       label="Crop margin (x face box; the model's training crops by default)")
                    aggregation = gr.Radio(list(AGGREGATIONS), value=bundled.video_aggregation,
                                           label="Video: how a person's frame scores become one (the model's by "
                                                 "default)")
                card = gr.Markdown(elem_id="model-card")
        gr.Markdown(DISCLAIMER)

        image_controls = [image_error, whole_btn]
        video_controls = [video_error]
        image_inputs = [image_in, whole, model, threshold, face_conf, margin]
        video_inputs = [video_in, model, threshold, frames, face_conf, margin, aggregation]

        def wire(button: gr.Button, fn: Any, inputs: list, outputs: list, show: Any, controls: list,
                 api_name: Any, trigger: Any = None) -> None:
            """Disable the button while the run is in flight, show errors beside the input."""
            run = (trigger or button.click)(_busy, None, button, api_name=False).then(fn, inputs, outputs,
                                                                                     api_name=api_name)
            run.then(show, [outputs[-1]], controls, api_name=False).then(
                _ready, None, button, api_name=False)

        wire(image_btn, analyze_image, image_inputs, image_outputs, error_controls, image_controls, "analyze_image")
        wire(video_btn, analyze_video, video_inputs, video_outputs, video_error_controls, video_controls,
             "analyze_video")
        # one click out of a dead end: the whole image as one face, or the other tab (the browser refuses a video in
        # the photo input and a photo in the video input before the server sees it)
        wire(image_btn, analyze_image, image_inputs, image_outputs, error_controls, image_controls, False,
             trigger=whole_btn.click(lambda: True, None, whole, api_name=False).then)
        to_video_btn.click(lambda: gr.Tabs(selected="video"), None, tabs, api_name=False)
        to_photo_btn.click(lambda: gr.Tabs(selected="photo"), None, tabs, api_name=False)
        # no stale state: a new upload, another model or a setting a person changes clears the results
        for event in (image_in.upload, image_in.clear, whole.input, threshold.input, face_conf.input, margin.input):
            event(_cleared_image, None, image_outputs + image_controls, api_name=False)
        for event in (video_in.upload, video_in.clear, threshold.input, frames.input, face_conf.input, margin.input,
                      aggregation.input):
            event(_cleared_video, None, video_outputs + video_controls, api_name=False)
        model.change(_cleared_image, None, image_outputs + image_controls, api_name=False)
        model.change(_cleared_video, None, video_outputs + video_controls, api_name=False)
        model.change(card_of, [model], [card], api_name="model_card")
        live_in.stream(LiveHandler(store), [live_in, live_state, model, face_conf],
                       [live_out, live_verdict, live_state], stream_every=LIVE_EVERY_S, time_limit=LIVE_LIMIT_S,
                       concurrency_limit=LIVE_SESSIONS, api_name="live_frame", show_progress="hidden")
        live_tab.select(None, js=CAMERA_CHECK, api_name=False)
        model.change(lambda: None, None, live_state, api_name=False)
        model.change(settings_of, [model], [threshold, margin, frames, aggregation], api_name=False)
        demo.load(card_of, [model], [card], api_name=False)
    return demo


class PrivatePage:
    """``/private/``: the private page's static folder (:mod:`detector.private_page`), built for the bundled model
    in the background at start and served with cross-origin isolation and a connect-to-self-only policy. Only GET
    and HEAD are answered. While it builds, or when it cannot be built (no ``npm ci``), a short page says so."""

    def __init__(self, page: CachedPage | None = None, enabled: bool = True) -> None:
        self.page = page or CachedPage(default_model_path())
        self.enabled = enabled
        self._static: Any = None

    def start(self) -> None:
        def build() -> None:
            ensure_packages()
            try:
                self.page.folder()
            except PageError as exc:
                log.warning("private page unavailable: %s", exc)
        threading.Thread(target=build, name="private-page", daemon=True).start()

    def _message(self, status: int, text: str) -> Any:
        from starlette.responses import HTMLResponse

        body = ('<!doctype html><meta charset="utf-8"><meta name="viewport" content="width=device-width">'
                f'<title>Private mode</title><p>{html.escape(text)}</p><p><a href="../">Back to the app</a></p>')
        return HTMLResponse(body, status_code=status, headers=PAGE_HEADERS)

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        from starlette.concurrency import run_in_threadpool
        from starlette.staticfiles import StaticFiles

        if scope["type"] != "http":
            return
        if not self.enabled:
            await self._message(404, "Private mode is switched off on this server (DEEPFAKE_PRIVATE_PAGE=0).")(
                scope, receive, send)
            return
        if self._static is None:
            try:
                folder = await run_in_threadpool(self.page.folder)
            except PageError as exc:
                await self._message(503, f"Private mode is not available on this server: {exc}")(scope, receive, send)
                return
            self._static = StaticFiles(directory=folder, html=True)

        async def with_headers(message: dict) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = list(message.get("headers", [])) + [
                    (k.lower().encode(), v.encode()) for k, v in PAGE_HEADERS.items()]
            await send(message)

        await self._static(scope, receive, with_headers)


def ensure_packages() -> None:
    """On a Hugging Face Space (``SPACE_ID`` set), which installs only requirements.txt and packages.txt (npm),
    install the private page's pinned npm packages once with ``npm ci``. Elsewhere the README's set-up command does."""
    if not os.environ.get("SPACE_ID") or (ROOT / "node_modules").is_dir() or shutil.which("npm") is None:
        return
    import subprocess

    log.info("installing the private page's npm packages (npm ci)")
    proc = subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=ROOT, capture_output=True, text=True,
                          timeout=900, check=False)
    if proc.returncode != 0:
        log.warning("npm ci failed: %s", proc.stderr.strip()[-500:])


def bound_allocator(arenas: int = 2) -> bool:
    """Cap glibc's malloc arenas. Each thread that allocates may otherwise get an arena of its own that is never
    given back: under concurrent requests (Gradio's worker threads, PyTorch's and OpenCV's pools) the server's memory
    grew by about 1 GB per 210 requests and stayed flat with two arenas (README, "Load"). Setting MALLOC_ARENA_MAX
    in the environment is too late once Python runs; mallopt applies it now. False where there is no glibc."""
    import ctypes
    import ctypes.util

    if os.environ.get("DEEPFAKE_BOUND_ALLOCATOR") == "0":  # for the load benchmark's comparison run only
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return bool(libc.mallopt(-8, int(os.environ.get("MALLOC_ARENA_MAX", arenas))))  # -8: M_ARENA_MAX
    except (OSError, AttributeError, ValueError):
        return False


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if bound_allocator():
        log.info("malloc arenas capped at %s (bounded memory under concurrent requests)",
                 os.environ.get("MALLOC_ARENA_MAX", 2))
    files = OutputFiles()
    atexit.register(files.remove)
    # SIGTERM (docker stop, a Space restart, systemd) would end the process without running atexit: exit normally
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
    demo = build_demo(files=files)
    private = PrivatePage(enabled=os.environ.get("DEEPFAKE_PRIVATE_PAGE", "1") != "0")
    if private.enabled:
        private.start()
    demo.queue(default_concurrency_limit=CONCURRENCY, max_size=64).launch(
        server_name=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
        server_port=int(os.environ.get("GRADIO_SERVER_PORT", "7860")),
        max_file_size=MAX_UPLOAD,
        footer_links=["api"], css=CSS,
        # the private page is mounted before Gradio's own routes
        app_kwargs={"routes": [Mount("/private", app=private, name="private")]},
    )


if __name__ == "__main__":
    main()
