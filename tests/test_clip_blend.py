"""train/clip_blend.py: two models' per-frame clip scores blended in logit space, as train/merge.py would."""

import json
import math

import numpy as np
import pytest

from train.calibrate_clips import clip_scores
from train.clip_blend import blend, main


def _clip(name, label, *tracks):
    return {"file": f"/clips/{name}.mp4", "label": label, "tracks": [{"scores": list(t)} for t in tracks]}


A = [_clip("swap__1", 1, [0.6, 0.7]), _clip("lipsync__1", 1, [0.9, 0.8]), _clip("real__1", 0, [0.5, 0.65]),
     _clip("real__2", 0, [0.3, 0.2], [0.4, 0.45])]
B = [_clip("swap__1", 1, [0.9, 0.95]), _clip("lipsync__1", 1, [0.1, 0.15]), _clip("real__1", 0, [0.35, 0.4]),
     _clip("real__2", 0, [0.2, 0.25], [0.45, 0.5])]


def _write(path, clips):
    path.write_text("".join(json.dumps(c) + "\n" for c in clips), encoding="utf-8")
    return path


def test_weight_zero_is_the_first_model_and_a_weight_adds_the_second_logit():
    np.testing.assert_allclose(clip_scores(blend(A, B, 0.0), "mean", 0.0), clip_scores(A, "mean", 0.0))
    blended = blend(A, B, 0.5, temperature_b=2.0)
    logit = lambda p: math.log(p / (1 - p))
    want = 1 / (1 + math.exp(-(logit(0.6) + 0.5 * 2.0 * logit(0.9))))
    assert blended[0]["tracks"][0]["scores"][0] == pytest.approx(want)
    # with the second model dominating, the clips rank as the second model ranks them
    assert np.argsort(clip_scores(blend(A, B, 10.0), "mean", 0.0)).tolist() == \
        np.argsort(clip_scores(B, "mean", 0.0)).tolist()


def test_clips_tracked_differently_are_refused(tmp_path):
    other = json.loads(json.dumps(B))
    other[3]["tracks"].pop()
    with pytest.raises(ValueError, match="different persons or frames"):
        blend(A, other, 1.0)
    with pytest.raises(SystemExit, match="different persons or frames"):
        main([str(_write(tmp_path / "a.jsonl", A)), str(_write(tmp_path / "b.jsonl", other))])


def test_writes_clip_auc_and_per_kind_figures(tmp_path):
    manifest = tmp_path / "manifest.csv"
    manifest.write_text("file,label,split,kind,group\n" + "".join(
        f"{c['file']},{c['label']},val,{c['file'].split('/')[-1].split('__')[0]},g\n"
        for c in A), encoding="utf-8")
    out = tmp_path / "blend.json"
    result = main([str(_write(tmp_path / "a.jsonl", A)), str(_write(tmp_path / "b.jsonl", B)), "--weights", "0",
                   "10", "--manifest", str(manifest), "--json", str(out)])
    assert json.loads(out.read_text()) == result
    alone, expert = result["by_weight"]["0.0"], result["by_weight"]["10.0"]
    # the first model: both fakes (0.65, 0.85) above both reals (0.575, 0.425: the more suspicious person of real__2)
    assert alone["clip_roc_auc"] == 1.0 and alone["by_kind"] == {"lipsync (1)": 1.0, "swap (1)": 1.0}
    # the second model reads the swap and misses the lip-sync clip, which scores below both reals
    assert expert["by_kind"] == {"lipsync (1)": 0.0, "swap (1)": 1.0} and expert["clip_roc_auc"] == 0.5
