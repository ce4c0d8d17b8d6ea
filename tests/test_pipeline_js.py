"""The private page's pipeline (detector/web/pipeline.js), run by Node.js, against the Python library: the same
crops bit for bit (OpenCV's area and bilinear resizing re-done in JavaScript), the same verdicts, aggregation,
detection merging, reading order and person rule. The browser test (test_private_page.py) then checks the whole
page end to end."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from detector.config import Preprocessing
from detector.faces import (
    Face,
    _contained,
    box_iou,
    crop_box,
    crop_face,
    crop_inside,
    crop_square,
    merge_detections,
    reading_order,
    whole_image_input,
)
from detector.private_page import face_constants
from detector.results import FaceResult, FrameResult, ImageResult, deciding_faces
from detector.video import AGGREGATIONS, aggregate, is_person, link_tracks

ROOT = Path(__file__).resolve().parent
NODE = shutil.which("node")
pytestmark = pytest.mark.skipif(NODE is None, reason="Node.js is not installed")


def run(jobs: list[dict]) -> list:
    proc = subprocess.run([NODE, str(ROOT / "pipeline_runner.mjs")], input=json.dumps(jobs), capture_output=True,
                          text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout)


def _b64(a: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(a).tobytes()).decode()


def test_crops_are_bit_exact():
    from skimage import data

    rng = np.random.default_rng(3)
    photo = data.astronaut()
    pre = Preprocessing(img_size=128)
    jobs, expected = [], []
    # faces small and large (bilinear enlarging, area shrinking, the 2x fast path), at and past the borders
    for box in ([173, 67, 104, 104], [60, 23, 36, 36], [0, 0, 111, 111], [400, 430, 150, 150], [-20, 100, 60, 60],
                [200, 200, 223, 223], [10, 300, 12, 12], [150, 40, 300, 300]):
        jobs.append({"op": "crop", "rgb": _b64(photo), "width": 512, "height": 512, "box": box,
                     "pre": pre.to_dict()})
        expected.append((list(crop_box(box, pre)), crop_face(photo, box, pre)))
    noise = rng.integers(0, 256, (300, 200, 3), dtype=np.uint8)
    for size in (64, 128, 224):
        p = replace(pre, img_size=size, crop_margin=1.3)
        jobs.append({"op": "crop", "rgb": _b64(noise), "width": 200, "height": 300, "box": [30, 90, 97, 97],
                     "pre": p.to_dict()})
        expected.append((list(crop_box([30, 90, 97, 97], p)), crop_face(noise, [30, 90, 97, 97], p)))
    # crop_inside: squares past the edge moved (and shrunk) inside the photo, the same in both
    sizes = [(512, 512)] * 8 + [(200, 300)] * 3
    inside = replace(pre, crop_inside=True)
    for box, (img, w, h) in (([400, 430, 150, 150], (photo, 512, 512)), ([-20, 100, 60, 60], (photo, 512, 512)),
                             ([20, 10, 480, 480], (photo, 512, 512)), ([5, 20, 190, 250], (noise, 200, 300)),
                             ([173, 67, 104, 104], (photo, 512, 512))):
        jobs.append({"op": "crop", "rgb": _b64(img), "width": w, "height": h, "box": box, "pre": inside.to_dict()})
        square = crop_square(box, inside, w, h)
        assert crop_inside(square, w, h) and square[2] <= crop_box(box, inside)[2]
        expected.append((list(square), crop_face(img, box, inside)))
        assert not (crop_face(np.maximum(img, 1), box, inside) == 0).all(-1).any()  # no black fill
        sizes.append((w, h))
    jobs.append({"op": "whole", "rgb": _b64(noise), "width": 200, "height": 300, "size": 128})
    answers = run(jobs)
    edges = [answer["at_edge"] for answer in answers[:-1]]
    nominal = [crop_box(job["box"], Preprocessing.from_dict(job["pre"])) for job in jobs[:-1]]
    assert edges == [not crop_inside(box, w, h) for box, (w, h) in zip(nominal, sizes)]
    assert edges[-5:] == [True, True, True, True, False]  # moved inside, still cut by the photo's framing
    assert any(edges) and not all(edges)
    for (box, crop), answer in zip(expected, answers[:-1]):
        assert answer["crop_box"] == box
        mine = np.frombuffer(base64.b64decode(answer["crop"]), np.uint8).reshape(crop.shape)
        assert np.array_equal(mine, crop), (box, int(np.abs(mine.astype(int) - crop).max()))
    whole = np.frombuffer(base64.b64decode(answers[-1]), np.uint8).reshape(128, 128, 3)
    assert np.array_equal(whole, whole_image_input(noise, 128))


def test_verdicts_and_aggregation_match():
    scores = [round(v, 4) for v in np.linspace(0, 1, 201)]
    pres = [Preprocessing(threshold=0.62, uncertain_band=(0.3728, 0.6682), video_threshold=0.86,
                          video_uncertain_band=(0.1124, 0.9098)),
            Preprocessing(threshold=0.4, class_names=("pristine", "manipulated"))]
    jobs = [{"op": "labels", "pre": p.to_dict(), "clip": clip, "scores": scores} for p in pres for clip in (0, 1)]
    rng = np.random.default_rng(0)
    series = [list(rng.uniform(0, 1, n)) for n in (1, 2, 5, 32)] + [[0.9] * 20 + [0.1] * 12, [0.05] * 31 + [0.5]]
    jobs += [{"op": "aggregate", "scores": s, "rule": r} for s in series for r in AGGREGATIONS]
    answers = run(jobs)
    k = 0
    for p in pres:
        for clip in (False, True):
            assert answers[k] == [p.decision(clip).label(s) for s in scores]
            k += 1
    for s in series:
        for r in AGGREGATIONS:
            assert answers[k] == pytest.approx(aggregate(s, r), abs=1e-12), (r, s)
            k += 1


def test_the_faces_that_decide_a_photo_match():
    """Faces cut by the photo's edge decide only when no whole face is there: the page and the library agree on
    which faces decide and which is the most suspicious of them."""
    cases = [[(0.3, False), (0.9, True)], [(0.9, True), (0.95, True)], [(0.2, False), (0.6, False), (0.99, True)],
             [(0.5, True)], [(0.7, False)], []]
    answers = run([{"op": "decide", "faces": [{"score": s, "at_edge": e} for s, e in case]} for case in cases])
    for case, answer in zip(cases, answers):
        faces = [FaceResult([0, 0, 1, 1], [0, 0, 1], 0.9, s, "", at_edge=e) for s, e in case]
        result = ImageResult(100, 100, faces, None, "", 0.5, "m")
        assert answer["deciding"] == [faces.index(f) for f in deciding_faces(faces)]
        assert answer["top"] == (-1 if result.top_face is None else result.top_face)
    assert answers[0] == {"deciding": [0], "top": 0}  # the cut face's 0.9 does not decide
    assert answers[1] == {"deciding": [0, 1], "top": 1}  # every face is cut: all decide


def as_js(faces: list[Face]) -> list[dict]:
    return [{"box": list(f.box), "confidence": f.confidence} for f in faces]


def test_detection_merging_reading_order_and_tiles_match():
    rules = face_constants()
    rng = np.random.default_rng(5)
    jobs, expected = [], []
    for _ in range(30):
        def faces(n):
            out = []
            for _ in range(n):
                x, y = (int(v) for v in rng.integers(0, 400, 2))
                s = int(rng.integers(5, 120))
                out.append(Face((x, y, s, s), float(rng.uniform(0.5, 1))))
            return out
        primary, extra = faces(int(rng.integers(0, 8))), faces(int(rng.integers(0, 5)))
        merged = merge_detections(primary)
        # FaceFinder.detect's rule: short-range faces only add what the full-range pass missed
        combined = merged + [f for f in extra if all(box_iou(f.box, p.box) < 0.3 and _contained(f.box, p.box) < 0.7
                                                     for p in merged)]
        combined = merge_detections([f for f in combined if f.box[2] >= 8 and f.box[3] >= 8])
        jobs.append({"op": "merge", "primary": as_js(primary), "extra": as_js(extra), "rules": rules})
        expected.append([list(f.box) for f in combined])
        jobs.append({"op": "order", "faces": as_js(primary)})
        expected.append([list(f.box) for f in reading_order(primary)])
    for w, h in ((641, 480), (1400, 900), (4000, 3000), (800, 3000)):
        jobs.append({"op": "tiles", "width": w, "height": h})
        tile = max(384, min(h, w) // 2)
        step = int(tile * 0.75)
        expected.append([[min(x0, max(0, w - tile)), min(y0, max(0, h - tile)), tile]
                         for y0 in range(0, max(1, h - tile + step), step)
                         for x0 in range(0, max(1, w - tile + step), step)])
    assert run(jobs) == expected


def test_person_rule_matches():
    rules = face_constants()
    # one face in every frame, one that drifts, a background face seen in 2 of 12 frames
    frames = []
    for i in range(12):
        faces = [[100 + 3 * i, 80, 60, 60], [400 - 20 * i, 300, 50, 50]]
        if i in (4, 5):
            faces.append([600, 20, 30, 30])
        frames.append((i, faces))
    py_frames = [FrameResult(i, i / 10, [FaceResult(b, b, 0.9, 0.5, "real") for b in faces]) for i, faces in frames]
    linked = link_tracks(py_frames)
    longest = max(len(t.scores) for t in linked)
    kept = [[idx / 10 for idx in t.frame_indices] for t in linked if is_person(t, len(py_frames), longest)]
    js = run([{"op": "persons", "rules": rules, "frames": [
        {"index": i, "time": i / 10, "faces": [{"box": b, "score": 0.5} for b in faces]} for i, faces in frames]}])[0]
    assert js["persons"] == kept and js["dropped"] == len(linked) - len(kept) == 1
