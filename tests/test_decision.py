"""One decision object (detector/decision.py): threshold, uncertain band, class names and ``label(score)``, read
from the checkpoint and used by the library, the app, the pictures and evaluation alike."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from detector.config import Preprocessing
from detector.decision import Decision
from detector.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]


def test_label_kind_and_band_edges():
    d = Decision(0.6, (0.4, 0.7))
    assert [d.label(s) for s in (0.0, 0.3999, 0.4, 0.6, 0.6999, 0.7, 1.0)] == [
        "real", "real", "uncertain", "uncertain", "uncertain", "fake", "fake"]
    assert d.label(None) == d.kind(None) == "no face"
    named = Decision(0.5, None, ("pristine", "manipulated"))
    assert named.label(0.2) == "pristine" and named.label(0.8) == "manipulated"
    assert named.kind(0.8) == "fake" and named.kind(0.2) == "real"  # colours follow the kind, not the name


def test_a_callers_threshold_widens_the_band_and_json_keeps_it_inside():
    d = Decision(0.62, (0.3728, 0.6682))
    assert d.at(None) is d
    low = d.at(0.123456)
    assert low.threshold == 0.123456 and low.band == (0.123456, 0.6682)
    lo, hi = low.band_list
    assert lo <= low.threshold <= hi  # rounded outwards, so a result's own decision can be rebuilt from JSON
    Decision(low.threshold, tuple(low.band_list))
    assert d.band_list == [0.3728, 0.6682]


@pytest.mark.parametrize("bad", [{"threshold": 0.0}, {"threshold": 1.0}, {"threshold": 0.5, "band": (0.6, 0.8)},
                                 {"threshold": 0.5, "band": (0.1,)}, {"threshold": 0.5, "class_names": ("a", "a")}])
def test_invalid_decisions_are_refused(bad):
    with pytest.raises(ConfigError):
        Decision(**bad)


def test_preprocessing_gives_photo_and_clip_decisions():
    pre = Preprocessing(threshold=0.6, uncertain_band=(0.3, 0.8))
    assert pre.decision() == Decision(0.6, (0.3, 0.8)) == pre.decision(clip=True)  # no clip calibration: per face
    clip = Preprocessing(threshold=0.6, uncertain_band=(0.3, 0.8), video_threshold=0.4,
                         video_uncertain_band=(0.2, 0.5))
    assert clip.decision(clip=True) == Decision(0.4, (0.2, 0.5))
    with pytest.raises(ConfigError, match="video_uncertain_band"):
        Preprocessing(video_threshold=0.4, video_uncertain_band=(0.5, 0.6))


def test_bundled_config_states_each_decision_once():
    config = json.loads((ROOT / "assets" / "models" / "default" / "config.json").read_text())
    pre = config["preprocessing"]
    assert {"threshold", "uncertain_band", "video_threshold", "video_uncertain_band", "video_aggregation"} <= set(pre)
    assert not {"threshold", "uncertain_band"} & set(config["calibration"])
    assert not {"threshold", "uncertain_band", "aggregation"} & set(config["clip_calibration"])
    assert [m["backbone"] for m in pre["members"]] == config["backbones"]


def test_pictures_colour_by_the_decision_whatever_the_class_names():
    from detector.render import AMBER, RED, draw_faces
    from detector.results import FaceResult, ImageResult

    rgb = np.full((200, 300, 3), 255, np.uint8)
    faces = [FaceResult([20, 60, 80, 80], [0, 0, 1], 0.9, 0.55, "uncertain"),
             FaceResult([180, 60, 80, 80], [0, 0, 1], 0.9, 0.9, "manipulated")]
    result = ImageResult(300, 200, faces, 0.9, "manipulated", 0.5, "m", uncertain_band=[0.4, 0.7])
    out = draw_faces(rgb, result)
    assert tuple(out[100, 20]) == AMBER  # left edge of the first box: uncertain, though above the threshold
    assert tuple(out[100, 180]) == RED


def test_detector_labels_through_its_decision(tiny_checkpoint):
    from detector.api import Detector

    det = Detector.from_pretrained(tiny_checkpoint)
    decision = det.decision()
    for s in np.linspace(0, 1, 41):
        assert det.label_for(float(s)) == decision.label(float(s))
    assert det.decision(0.3).threshold == 0.3
    result = det.analyze_image(np.full((64, 64, 3), 120, np.uint8), whole_image=True, threshold=0.3)
    assert result.decision.threshold == 0.3 and result.label == det.decision(0.3).label(result.score)
