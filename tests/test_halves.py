"""train/halves.py splits faces into fixed halves; train/compare.py compares models on one half."""

import csv
import json

import cv2
import numpy as np
import pytest

from train import compare
from train.halves import half, stem, write_manifest


def test_a_packed_crop_and_its_photo_fall_in_the_same_half():
    assert stem("packs/of/images/val-00012-fake_3.jpg") == "fake_3"
    assert stem("/data/of/Validation/Fake/fake_3.jpg") == "fake_3"
    assert stem("/data/x/val-1-odd.jpg") == "val-1-odd"  # not a packer's prefix
    for name in ("fake_3", "real_10", "dalle3__electrician", "aabqcugcpc"):
        assert half(f"packs/p/images/val-00007-{name}.jpg") == half(f"/photos/{name}.png")


def test_halves_are_fixed_and_near_even():
    names = [f"face_{i}.jpg" for i in range(2000)]
    first = [half(n) for n in names]
    assert first == [half(n) for n in names]
    assert set(first) == {"A", "B"}
    assert 0.45 < first.count("A") / len(first) < 0.55


def test_manifest_puts_half_a_in_train_half_b_in_val_and_leaves_excluded_sources_out(tmp_path):
    img = np.full((16, 16, 3), 120, np.uint8)
    rows = []
    for i in range(40):
        name = f"images/val-{i:05d}-photo_{i}.jpg"
        (tmp_path / "pack" / "images").mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(tmp_path / "pack" / name), img)
        source = "dalle3" if i % 10 == 0 else ("gan" if i % 2 else "camera")
        rows.append({"file": name, "label": i % 2, "split": "val", "source": source})
    with open(tmp_path / "pack" / "manifest.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, ["file", "label", "split", "source"])
        w.writeheader()
        w.writerows(rows)
    out = tmp_path / "halves.csv"
    counts = write_manifest([tmp_path / "pack"], "val", out, exclude=["DALLE3"])
    with open(out, newline="") as fh:
        written = list(csv.DictReader(fh))
    assert len(written) == 36 == sum(counts.values())
    assert not any(r["source"] == "dalle3" for r in written)
    for r in written:
        assert r["split"] == ("train" if half(r["file"]) == "A" else "val")
        assert int(r["label"]) == int(r["file"].rsplit("_", 1)[1].split(".")[0]) % 2
    assert {r["split"] for r in written} == {"train", "val"}
    with pytest.raises(SystemExit, match="no val file"):
        write_manifest([tmp_path / "pack"], "val", tmp_path / "none.csv", exclude=["camera", "gan", "dalle"])


def test_add_to_a_puts_a_held_out_sources_training_files_in_half_a_only(tmp_path):
    img = np.full((16, 16, 3), 90, np.uint8)
    (tmp_path / "pack" / "images").mkdir(parents=True)
    rows = []
    for split, n in (("train", 30), ("val", 20)):
        for i in range(n):
            name = f"images/{split}-{i:05d}-{split}_{i}.jpg"
            cv2.imwrite(str(tmp_path / "pack" / name), img)
            source = ("sd14" if i % 3 == 0 else "london_set" if i % 3 == 1 else "gan") if split == "train" else "utk"
            rows.append({"file": name, "label": int(source != "london_set" and source != "utk"), "split": split,
                         "source": source})
    with open(tmp_path / "pack" / "manifest.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, ["file", "label", "split", "source"])
        w.writeheader()
        w.writerows(rows)
    plain = write_manifest([tmp_path / "pack"], "val", tmp_path / "plain.csv")
    counts = write_manifest([tmp_path / "pack"], "val", tmp_path / "more.csv", add_to_a=["SD14", "london"])
    with open(tmp_path / "more.csv", newline="") as fh:
        written = list(csv.DictReader(fh))
    added = [r for r in written if "/train-" in r["file"]]
    # the 20 sd14 / london_set training files, whatever their hash says, all in half A; the GAN ones left out
    assert len(added) == 20 and {r["source"] for r in added} == {"sd14", "london_set"}
    assert all(r["split"] == "train" for r in added)
    assert any(half(r["file"]) == "B" for r in added)  # the hash alone would have put some in half B
    # half B (what a head is judged on) is the same as without the option
    with open(tmp_path / "plain.csv", newline="") as fh:
        assert [r for r in csv.DictReader(fh)] == [r for r in written if "/val-" in r["file"]]
    assert sum(counts.values()) == sum(plain.values()) + 20
    with pytest.raises(SystemExit, match="no training file"):
        write_manifest([tmp_path / "pack"], "val", tmp_path / "none.csv", add_to_a=["dalle3"])
    with pytest.raises(SystemExit, match="other than train"):
        write_manifest([tmp_path / "pack"], "train", tmp_path / "twice.csv", add_to_a=["sd14"])


def _scores(path, rows):
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, ["file", "label", "score"])
        w.writeheader()
        w.writerows({"file": f, "label": y, "score": s} for f, y, s in rows)


def test_compare_on_one_half_sees_only_that_halfs_faces(tmp_path, capsys):
    names = [f"/d/face_{i}.jpg" for i in range(400)]
    labels = [i % 2 for i in range(400)]
    # model A ranks half B perfectly and half A backwards; model B is the same coin everywhere
    a = [(f, y, (0.9 if y else 0.1) if half(f) == "B" else (0.1 if y else 0.9)) for f, y in zip(names, labels)]
    rng = np.random.default_rng(0)
    b = [(f, y, float(rng.random())) for f, y in zip(names, labels)]
    b += [("/d/dalle3__x.png", 1, 0.2)]
    a += [("/d/dalle3__x.png", 1, 0.95)]
    _scores(tmp_path / "a.csv", a)
    _scores(tmp_path / "b.csv", b)
    on_b = compare.main([str(tmp_path / "a.csv"), str(tmp_path / "b.csv"), "--half", "B", "--exclude", "dalle3__",
                         "--resamples", "200"])
    n_b = sum(half(f) == "B" for f in names)
    assert on_b["n"] == n_b and on_b["delta"] > 0.3 and on_b["low"] > 0
    on_a = compare.main([str(tmp_path / "a.csv"), str(tmp_path / "b.csv"), "--half", "A", "--exclude", "dalle3__",
                         "--resamples", "200"])
    assert on_a["n"] == 400 - n_b and on_a["delta"] < -0.3
    # one held-out generator against every real of half B: the fake is kept although it belongs to no half
    held = compare.main([str(tmp_path / "a.csv"), str(tmp_path / "b.csv"), "--half", "B", "--held-out", "dalle3__",
                         "--fakes-matching", "dalle3__", "--resamples", "50"])
    reals_b = sum(half(f) == "B" and y == 0 for f, y in zip(names, labels))
    assert held["n"] == reals_b + 1
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["n"] == held["n"]
    with pytest.raises(SystemExit, match="one class only"):
        compare.main([str(tmp_path / "a.csv"), str(tmp_path / "b.csv"), "--fakes-matching", "no-such-generator"])
