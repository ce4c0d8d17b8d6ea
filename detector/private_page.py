"""The private page: the whole detector in the browser, nothing uploaded.

    python -m detector web --out DIR [--model DIR_OR_REPO]

builds a static folder that any static host can serve (``python app.py`` serves it at ``/private/``). The page finds
faces with MediaPipe's face detector (``@mediapipe/tasks-vision``, WebAssembly, the same two BlazeFace models as
:mod:`detector.faces`), crops them as the checkpoint says and scores them with the fusion model exported to ONNX
(``onnxruntime-web``, WebAssembly SIMD, threads where the page is cross-origin isolated). The folder holds:

- ``index.html``, ``private.js``, ``pipeline.js``, ``verdict.css``: the page (``detector/web/``);
- ``model.onnx`` and ``config.json``: the exported model and the checkpoint's own config (crop geometry, input
  scaling, each member's normalisation, the photo and clip decisions, class names, scope), read by the page as
  Python reads it; ``video/model.onnx`` and ``video/config.json`` the same for the checkpoint's model for videos,
  when it has one (its config then says ``"video_model": "video"``), which the page scores videos with;
- ``faces.json``: the face finder's constants (:mod:`detector.faces`), so both sides merge detections alike;
- ``models/``: the two face-detector ``.tflite`` files; ``vendor/``: the npm packages' runtime files and licences
  (from ``node_modules``, installed by ``npm ci`` from ``package-lock.json``), with their
  ``package.json`` (name, version, licence: MIT and Apache-2.0) and a ``NOTICE.txt``.

Nothing is fetched from another origin: fonts are the system's, and the page refuses any request off its origin.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import re
import shutil
import sys
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path

from . import faces, video
from .checkpoint import VIDEO_DIR
from .errors import DetectorError
from .face_models import MODELS, model_path
from .limits import cache_dir

log = logging.getLogger(__name__)

SOURCE = Path(__file__).resolve().parent / "web"
PAGE_FILES = ("index.html", "private.js", "pipeline.js", "verdict.css", "page.css")
# (package, file inside it, where it goes): only what the page loads, plus the licences
VENDOR = (
    ("onnxruntime-web", "dist/ort.wasm.min.mjs", "vendor/ort/ort.wasm.min.mjs"),
    ("onnxruntime-web", "dist/ort-wasm-simd-threaded.mjs", "vendor/ort/ort-wasm-simd-threaded.mjs"),
    ("onnxruntime-web", "dist/ort-wasm-simd-threaded.wasm", "vendor/ort/ort-wasm-simd-threaded.wasm"),
    ("onnxruntime-web", "package.json", "vendor/ort/package.json"),
    ("@mediapipe/tasks-vision", "vision_bundle.mjs", "vendor/mediapipe/vision_bundle.mjs"),
    ("@mediapipe/tasks-vision", "wasm/vision_wasm_internal.js", "vendor/mediapipe/wasm/vision_wasm_internal.js"),
    ("@mediapipe/tasks-vision", "wasm/vision_wasm_internal.wasm", "vendor/mediapipe/wasm/vision_wasm_internal.wasm"),
    ("@mediapipe/tasks-vision", "package.json", "vendor/mediapipe/package.json"),
)
# Response headers the page wants: cross-origin isolation (so ONNX Runtime may use threads) and a policy that lets
# the page connect to its own origin only. The app sends them; `_headers` carries them to static hosts that read it.
HEADERS = {
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Embedder-Policy": "require-corp",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Content-Security-Policy": "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; "
                               "worker-src 'self' blob:; connect-src 'self' blob: data:; img-src 'self' blob: data:; "
                               "media-src 'self' blob:; style-src 'self'; font-src 'self'; form-action 'none'; "
                               "base-uri 'none'",
}


# A built folder is also a ready Hugging Face static Space (README, "Private mode"): its README's front matter asks the
# Space to send the isolation headers (a static Space takes these three; the policy is in index.html itself).
SPACE_README = """---
title: Deepfake detector (private mode)
emoji: 🔒
colorFrom: green
colorTo: indigo
sdk: static
app_file: index.html
custom_headers:
  cross-origin-embedder-policy: require-corp
  cross-origin-opener-policy: same-origin
  cross-origin-resource-policy: same-origin
---

The deepfake detector's private page ({version}): faces are found, cropped and scored inside the browser, and nothing
is uploaded. Built by `python -m detector web`.
"""


class PageError(DetectorError):
    """The page cannot be built (its npm packages are not installed, the model cannot be exported)."""


def node_modules() -> Path:
    """Where ``npm ci`` put the packages: ``$DEEPFAKE_NODE_MODULES`` or the project's ``node_modules``."""
    env = os.environ.get("DEEPFAKE_NODE_MODULES")
    return Path(env).expanduser() if env else Path(__file__).resolve().parents[1] / "node_modules"


def _vendor_sources(modules: Path) -> list[tuple[Path, str]]:
    found, missing = [], []
    for package, inner, target in VENDOR:
        src = modules / package / inner
        (found if src.is_file() else missing).append((src, target))
    if missing:
        raise PageError(f"The private page needs its browser packages, which are not installed ({missing[0][0]} is "
                        "missing). Run `npm ci` in the project folder (README, Quick start), or set "
                        "DEEPFAKE_NODE_MODULES to a node_modules folder that has them.")
    return found


def face_constants() -> dict:
    """The face finder's rules, as :mod:`detector.faces` applies them (the page merges detections the same way)."""
    return {"short_to_full_scale": faces.SHORT_TO_FULL_SCALE, "tile_above": faces.TILE_ABOVE,
            "tile_extra_confidence": faces.TILE_EXTRA_CONFIDENCE, "min_confidence": faces.MIN_CONFIDENCE,
            "suppression": faces.SUPPRESSION, "merge_iou": faces.MERGE_IOU, "merge_contained": faces.MERGE_CONTAINED,
            "min_box": faces.MIN_BOX, "models": {kind: f"models/{name}" for kind, (name, _) in MODELS.items()},
            "person_min_share": video.PERSON_MIN_SHARE, "person_min_frames": video.PERSON_MIN_FRAMES,
            "link_min_iou": video.LINK_MIN_IOU}


def build(out: str | Path, model: str | Path | None = None, modules: Path | None = None) -> Path:
    """Write the private page for ``model`` (default: the bundled one) into ``out``; returns ``out``."""
    from .api import default_model_path, video_model_of
    from .export import export_onnx, spec
    from .model import FusionDetector

    out = Path(out)
    modules = modules or node_modules()
    sources = _vendor_sources(modules)  # fail before the slow export
    checkpoint = FusionDetector.from_pretrained(model or default_model_path())
    for_video = video_model_of(checkpoint)
    out.mkdir(parents=True, exist_ok=True)
    for folder, fusion in ((out, checkpoint), (out / VIDEO_DIR, for_video)):
        if fusion is not None:
            folder.mkdir(exist_ok=True)
            export_onnx(fusion, folder / "model.onnx")
            (folder / "config.json").write_text(json.dumps(spec(fusion), indent=1), encoding="utf-8")
    (out / "faces.json").write_text(json.dumps(face_constants(), indent=1), encoding="utf-8")
    for kind in MODELS:
        path = model_path(kind)
        (out / "models").mkdir(exist_ok=True)
        shutil.copyfile(path, out / "models" / path.name)
    for src, target in sources:
        (out / target).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, out / target)
    notice = []
    for package in sorted({p for p, _, _ in VENDOR}):
        meta = json.loads((modules / package / "package.json").read_text(encoding="utf-8"))
        notice.append(f"{meta['name']} {meta['version']} ({meta.get('license', 'see its package.json')})")
    (out / "vendor" / "NOTICE.txt").write_text("Third-party files in this folder, unmodified, from npm:\n"
                                               + "\n".join(notice) + "\n", encoding="utf-8")
    for name in PAGE_FILES:
        shutil.copyfile(SOURCE / name, out / name)
    page = (out / "index.html").read_text(encoding="utf-8")
    meta = f'<meta http-equiv="Content-Security-Policy" content="{HEADERS["Content-Security-Policy"]}">'
    page = re.sub(r"<!-- content-security-policy:[^>]*-->", meta, page)
    (out / "index.html").write_text(page, encoding="utf-8")
    (out / "README.md").write_text(SPACE_README.format(version=checkpoint.name), encoding="utf-8")
    (out / "_headers").write_text("/*\n" + "".join(f"  {k}: {v}\n" for k, v in HEADERS.items()), encoding="utf-8")
    return out


def fingerprint(model: str | Path | None = None, modules: Path | None = None) -> str:
    """What a built page depends on: the checkpoint's files, the page's sources and the vendored packages."""
    from .api import default_model_path

    digest = hashlib.sha256()
    folder = Path(model or default_model_path())
    files = [folder / "config.json", folder / "model.safetensors"]
    files += [f for f in (folder / VIDEO_DIR / "config.json", folder / VIDEO_DIR / "model.safetensors") if f.is_file()]
    for path in files + [SOURCE / n for n in PAGE_FILES]:
        stat = path.stat()
        digest.update(f"{path}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    digest.update(json.dumps(face_constants(), sort_keys=True).encode())
    for src, _ in _vendor_sources(modules or node_modules()):
        digest.update(f"{src}:{src.stat().st_size}".encode())
    return digest.hexdigest()[:16]


class CachedPage:
    """The page for the bundled model, built once per fingerprint into the user cache (for the app)."""

    def __init__(self, model: str | Path | None = None, root: Path | None = None) -> None:
        self.root = root or cache_dir("private-page")
        self.model = model
        self._lock = threading.Lock()
        self._folder: Path | None = None

    def folder(self) -> Path:
        """The built folder (building it on first call); raises :class:`PageError` when it cannot be built."""
        with self._lock:
            if self._folder is not None:
                return self._folder
            try:
                target = self.root / fingerprint(self.model)
                if not (target / "index.html").is_file():
                    self.root.mkdir(parents=True, exist_ok=True)
                    tmp = Path(tempfile.mkdtemp(prefix=".build-", dir=self.root))
                    build(tmp, self.model)
                    shutil.rmtree(target, ignore_errors=True)
                    os.replace(tmp, target)
                    log.info("private page built in %s", target)
                    for old in self.root.iterdir():  # pages of earlier weights or sources: 64 MB each
                        if old != target and old.is_dir() and not old.name.startswith("."):
                            shutil.rmtree(old, ignore_errors=True)
            except (DetectorError, OSError) as exc:
                raise PageError(str(exc)) from exc
            self._folder = target
            return target


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m detector web",
                                description="Build the private page (the detector in the browser) as a static folder.")
    p.add_argument("--out", type=Path, required=True, help="folder to write (created)")
    p.add_argument("--model", default=None, help="checkpoint folder or Hub repo id (default: bundled)")
    args = p.parse_args(list(argv) if argv is not None else None)
    try:
        out = build(args.out, args.model)
    except DetectorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    size = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
    print(f"wrote {out} ({size / 1e6:.1f} MB). Serve it with the headers in {out / '_headers'} (cross-origin "
          "isolation for threads), e.g. python app.py serves it at /private/.")
    return 0
