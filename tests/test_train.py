"""Training, evaluation, data layouts, SBI and metrics, on small images generated here."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from detector.model import FusionDetector
from train import evaluate, fit
from train.data import LayoutError, discover, load_split
from train.metrics import binary_metrics
from train.sbi import _jitter_detail, face_keypoints, face_mask, self_blend

SIZE = 32


def _image(label: int, rng: np.random.Generator) -> np.ndarray:
    """Smooth colour fields are 'real'; the same with a high-frequency checker patch are 'fake' (learnable)."""
    base = rng.integers(40, 200, 3)
    img = np.ones((SIZE, SIZE, 3)) * base + rng.normal(0, 6, (SIZE, SIZE, 3))
    if label:
        yy, xx = np.mgrid[:12, :12]
        img[10:22, 10:22] += ((xx + yy) % 2 * 80 - 40)[..., None]
    return np.clip(img, 0, 255).astype(np.uint8)


def make_layout(root: Path, layout: str, n: int = 12, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    names = {"kaggle": (["Train", "Validation", "Test"], ["Real", "Fake"]),
             "lower": (["train", "val", "test"], ["real", "fake"]),
             "flat": ([""], ["real", "fake"])}
    rows = []
    if layout == "manifest":
        (root / "img").mkdir(parents=True)
        for split in ("train", "val", "test"):
            for label in (0, 1):
                for i in range(n):
                    name = f"img/{split}_{label}_{i}.png"
                    Image.fromarray(_image(label, rng)).save(root / name)
                    rows.append({"file": name, "label": "fake" if label else "real", "split": split})
        with open(root / "manifest.csv", "w", newline="") as fh:
            writer = csv.DictWriter(fh, ["file", "label", "split"])
            writer.writeheader()
            writer.writerows(rows)
        return root
    splits, classes = names[layout]
    for split in splits:
        for label, cls in enumerate(classes):
            folder = root / split / cls
            folder.mkdir(parents=True)
            for i in range(n * (3 if layout == "flat" else 1)):
                Image.fromarray(_image(label, rng)).save(folder / f"{i}.jpg", quality=95)
    return root


@pytest.mark.parametrize("layout", ["manifest", "kaggle", "lower", "flat"])
def test_every_layout_is_recognised(tmp_path, layout):
    splits = discover(make_layout(tmp_path, layout))
    for name in ("train", "val", "test"):
        assert splits[name].files, name
        assert set(splits[name].labels) == {0, 1}
    assert all(p.is_file() for p in splits["train"].files)


def test_unrecognised_layout_says_what_was_found_and_expected(tmp_path):
    (tmp_path / "cats").mkdir()
    (tmp_path / "dogs").mkdir()
    with pytest.raises(LayoutError) as err:
        discover(tmp_path)
    assert "cats" in str(err.value) and "Train|Validation|Test/Real|Fake" in str(err.value)
    (tmp_path / "train" / "real").mkdir(parents=True)
    with pytest.raises(LayoutError, match="'real' and 'fake'"):
        discover(tmp_path)


def test_a_file_the_manifest_lists_twice_is_read_once(tmp_path, caplog):
    """The synthetic-faces extraction writes two DALL-E 3 files of one name to one path, so its manifest lists 27
    files twice: each is read (trained on, scored) once, with a warning; a file listed with two labels is refused."""
    root = make_layout(tmp_path, "manifest", n=3)
    rows = (root / "manifest.csv").read_text().splitlines()
    (root / "manifest.csv").write_text("\n".join([*rows, rows[-1], rows[-2]]) + "\n")
    with caplog.at_level("WARNING", logger="train.data"):
        splits = discover(root)
    assert len(splits["test"].files) == 6 == len(set(splits["test"].files))
    assert "lists 2 file(s) more than once" in caplog.text
    relabelled = rows[-1].replace(",fake,", ",real,")
    (root / "manifest.csv").write_text("\n".join([*rows, relabelled]) + "\n")
    with pytest.raises(LayoutError, match="listed twice"):
        discover(root)


def test_corrupt_images_are_skipped_and_counted(tmp_path):
    root = make_layout(tmp_path, "lower", n=3)
    (root / "train" / "real" / "broken.jpg").write_text("not a jpeg")
    x, y, skipped = load_split(discover(root)["train"], SIZE)
    assert skipped == 1 and len(x) == len(y) == 6


def _fit(data: Path, out: Path, *extra: str) -> dict:
    return fit.main(["--data", str(data), "--backbones", "meso4", "--img-size", str(SIZE), "--batch-size", "8",
                     "--workers", "0", "--no-cache", "--out", str(out), "--precision", "fp32", *extra])


def test_tiny_training_run_gives_a_loadable_checkpoint_and_a_report(tmp_path):
    data = make_layout(tmp_path / "data", "manifest")
    summary = _fit(data, tmp_path / "run", "--epochs", "2", "--lr", "3e-3")
    best = tmp_path / "run" / "best"
    model = FusionDetector.from_pretrained(best)
    config = json.loads((best / "config.json").read_text())
    assert config["training"]["command"].startswith("python train/fit.py")
    assert config["preprocessing"]["img_size"] == SIZE and model.name == "meso4"
    log = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in log] == [1, 2] and summary["best_val_auc"] == max(r["val_auc"] for r in log)
    metrics = evaluate.main(["--model", str(best), "--data", str(data), "--split", "test",
                             "--out", str(tmp_path / "eval")])
    saved = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    for key in ("accuracy", "roc_auc", "macro_f1", "eer", "average_precision", "confusion_matrix", "n"):
        assert key in saved
    assert saved["n"] == 24 and saved["roc_auc"] == metrics["roc_auc"]
    assert (tmp_path / "eval" / "roc.png").stat().st_size > 1000
    assert "| meso4 |" in (tmp_path / "eval" / "metrics.md").read_text()


def test_resume_continues_from_the_saved_epoch_and_matches_a_straight_run(tmp_path):
    data = make_layout(tmp_path / "data", "lower", n=8)
    _fit(data, tmp_path / "straight", "--epochs", "2", "--patience", "5")
    _fit(data, tmp_path / "resumed", "--epochs", "1", "--patience", "5")
    _fit(data, tmp_path / "resumed", "--epochs", "2", "--patience", "5", "--resume")
    log = [json.loads(line) for line in (tmp_path / "resumed" / "log.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in log] == [1, 2]
    a = torch.load(tmp_path / "straight" / "last.pt", weights_only=True)["model"]
    b = torch.load(tmp_path / "resumed" / "last.pt", weights_only=True)["model"]
    assert all(torch.allclose(a[k].float(), b[k].float(), atol=1e-6) for k in a)


def test_init_from_a_checkpoint(tmp_path):
    data = make_layout(tmp_path / "data", "lower", n=4)
    source = FusionDetector(["meso4"], preprocessing={"img_size": SIZE})
    source.save_checkpoint(tmp_path / "src")
    _fit(data, tmp_path / "run", "--epochs", "1", "--init", str(tmp_path / "src"), "--lr", "1e-12")
    trained = FusionDetector.from_pretrained(tmp_path / "run" / "best")
    head = "head.3.weight"
    assert torch.allclose(trained.state_dict()[head], source.state_dict()[head], atol=1e-6)
    with pytest.raises(SystemExit, match="backbones"):
        fit.main(["--data", str(data), "--backbones", "resnet18", "--img-size", str(SIZE), "--out",
                  str(tmp_path / "bad"), "--init", str(tmp_path / "src"), "--no-cache", "--workers", "0"])


def test_time_budget_ends_the_run_after_the_epoch_that_spends_it(tmp_path):
    data = make_layout(tmp_path / "data", "lower", n=4)
    summary = _fit(data, tmp_path / "run", "--epochs", "5", "--patience", "9", "--time-budget", "0")
    log = (tmp_path / "run" / "log.jsonl").read_text().splitlines()
    assert len(log) == 1 and summary["stopped"] == "time budget"
    assert json.loads((tmp_path / "run" / "done.json").read_text())["stopped"] == "time budget"


def test_fusion_backbones_taken_from_members_trained_alone(tmp_path):
    from train import model_card

    data = make_layout(tmp_path / "data", "lower", n=4)
    _fit(data, tmp_path / "meso", "--epochs", "1")
    fit.main(["--data", str(data), "--backbones", "mesoinception4", "--img-size", str(SIZE), "--batch-size", "8",
              "--workers", "0", "--no-cache", "--precision", "fp32", "--epochs", "1", "--out", str(tmp_path / "inc")])
    members = [FusionDetector.from_pretrained(tmp_path / n / "best") for n in ("meso", "inc")]
    fit.main(["--data", str(data), "--backbones", "meso4", "mesoinception4", "--img-size", str(SIZE),
              "--batch-size", "8", "--workers", "0", "--no-cache", "--precision", "fp32", "--epochs", "1",
              "--freeze-backbones", "--init-backbones", str(tmp_path / "inc" / "best"), str(tmp_path / "meso" / "best"),
              "--out", str(tmp_path / "fused")])
    fused = FusionDetector.from_pretrained(tmp_path / "fused" / "best")
    for backbone, member in zip(fused.backbones, members):  # frozen: still exactly the members' weights
        for key, value in member.backbones[0].state_dict().items():
            assert torch.equal(backbone.state_dict()[key], value), key
    card = model_card.main(["--model", str(tmp_path / "fused" / "best")])
    assert "initialised from single-backbone models" in card and "Backbone meso4 was trained alone first" in card
    # fine-tuning the fused model keeps the whole lineage in its card
    fit.main(["--data", str(data), "--backbones", "meso4", "mesoinception4", "--img-size", str(SIZE),
              "--batch-size", "8", "--workers", "0", "--no-cache", "--precision", "fp32", "--epochs", "1",
              "--init", str(tmp_path / "fused" / "best"), "--out", str(tmp_path / "tuned")])
    card = model_card.main(["--model", str(tmp_path / "tuned" / "best")])
    assert f"started from the weights of `{tmp_path / 'fused' / 'best'}`" in card
    assert "Backbone mesoinception4 was trained alone first" in card and "--freeze-backbones" in card
    with pytest.raises(SystemExit, match="resnet18"):
        fit.main(["--data", str(data), "--backbones", "meso4", "resnet18", "--img-size", str(SIZE), "--workers", "0",
                  "--no-cache", "--init-backbones", str(tmp_path / "meso" / "best"), "--out", str(tmp_path / "bad")])


def test_a_member_added_to_a_fusion_starts_from_the_fusions_own_scores(tmp_path):
    from train import model_card

    data = make_layout(tmp_path / "data", "lower", n=4)
    _fit(data, tmp_path / "meso", "--epochs", "1", "--lr", "3e-3")
    fit.main(["--data", str(data), "--backbones", "mesoinception4", "--img-size", str(SIZE), "--batch-size", "8",
              "--workers", "0", "--no-cache", "--precision", "fp32", "--epochs", "1", "--out", str(tmp_path / "inc")])
    source = FusionDetector.from_pretrained(tmp_path / "meso" / "best").eval()
    # an added member before the source's: its columns come first, the source's are found by name
    fit.main(["--data", str(data), "--backbones", "mesoinception4", "meso4", "--img-size", str(SIZE),
              "--batch-size", "8", "--workers", "0", "--no-cache", "--precision", "fp32", "--epochs", "1",
              "--freeze-backbones", "--init-backbones", str(tmp_path / "inc" / "best"), str(tmp_path / "meso" / "best"),
              "--init-head", str(tmp_path / "meso" / "best"), "--lr", "1e-12", "--out", str(tmp_path / "grown")])
    grown = FusionDetector.from_pretrained(tmp_path / "grown" / "best").eval()
    x = torch.rand(6, 3, SIZE, SIZE)
    with torch.no_grad():
        assert torch.allclose(grown(x), source(x), atol=1e-5)
        added = grown.specs[0].num_features
        assert float(grown.head[0].weight[:, :added].abs().max()) < 1e-6  # the added member's columns at zero
        assert float(grown.head[0].weight[:, added:].abs().max()) > 0
    card = model_card.main(["--model", str(tmp_path / "grown" / "best")])
    assert "fusion head started from the head of" in card and str(tmp_path / "meso" / "best") in card
    with pytest.raises(SystemExit, match="its head reads"):  # the source has a member this model lacks
        fit.main(["--data", str(data), "--backbones", "meso4", "--img-size", str(SIZE), "--workers", "0",
                  "--no-cache", "--init-head", str(tmp_path / "grown" / "best"), "--out", str(tmp_path / "bad")])


def test_pack_makes_a_small_dataset_that_trains_like_the_original(tmp_path):
    from train import pack

    data = make_layout(tmp_path / "data", "manifest", n=6)
    info = pack.main(["--data", str(data), "--out", str(tmp_path / "p"), "--count", "train=8", "val=all",
                      "--format", "webp", "--size", "24", "--quality", "90"])
    assert info["counts"] == {"train": 8, "val": 12, "test": 0}
    splits = discover(tmp_path / "p")
    assert sorted(splits["train"].labels) == [0] * 4 + [1] * 4 and not splits["test"].files
    with Image.open(splits["val"].files[0]) as im:
        assert im.format == "WEBP" and im.size == (24, 24)
    copied = pack.main(["--data", str(data), "--out", str(tmp_path / "c"), "--count", "test=all"])
    originals = sorted(p.read_bytes() for p in discover(data)["test"].files)
    assert sorted(p.read_bytes() for p in discover(tmp_path / "c")["test"].files) == originals
    with pytest.raises(SystemExit, match="SPLIT=N"):
        pack.main(["--data", str(data), "--out", str(tmp_path / "x"), "--count", "train=some"])
    assert copied["format"] == "copy" and json.loads((tmp_path / "c" / "PACK.json").read_text())["counts"]["test"] == 12
    only_val = pack.main(["--data", str(data), "--out", str(tmp_path / "v"), "--count", "train=0", "val=4"])
    assert only_val["counts"] == {"train": 0, "val": 4, "test": 0}


def test_pack_degrade_makes_a_fixed_harder_copy(tmp_path):
    import cv2

    from train import pack

    data = make_layout(tmp_path / "data", "manifest", n=8)
    common = ["--data", str(data), "--count", "val=all", "--format", "webp", "--size", "32", "--quality", "100"]
    pack.main([*common, "--out", str(tmp_path / "plain")])
    info = pack.main([*common, "--out", str(tmp_path / "d1"), "--degrade"])
    pack.main([*common, "--out", str(tmp_path / "d2"), "--degrade"])
    assert info["degraded"] is True

    def pixels(name: str) -> list[np.ndarray]:
        return [np.asarray(Image.open(f).convert("RGB")) for f in discover(tmp_path / name)["val"].files]

    plain, d1, d2 = pixels("plain"), pixels("d1"), pixels("d2")
    assert all(np.array_equal(a, b) for a, b in zip(d1, d2))  # seeded: the same split every time
    detail = [np.mean([cv2.Laplacian(cv2.cvtColor(x, cv2.COLOR_RGB2GRAY), cv2.CV_64F).var() for x in xs])
              for xs in (plain, d1)]
    assert detail[1] < 0.9 * detail[0]  # downscaling and JPEG took fine detail away
    with pytest.raises(SystemExit, match="--degrade writes new pixels"):
        pack.main(["--data", str(data), "--out", str(tmp_path / "x"), "--degrade"])


def test_sbi_training_runs(tmp_path):
    data = make_layout(tmp_path / "data", "lower", n=6)
    _fit(data, tmp_path / "run", "--epochs", "1", "--sbi", "--augment", "flip")
    config = json.loads((tmp_path / "run" / "best" / "config.json").read_text())
    assert config["training"]["sbi"] is True and config["training"]["augment"] == "flip"


def test_soften_reals_softens_only_real_faces(astronaut):
    """fit.py --soften-reals P: each real face (never a fake) is softened with chance P before the augmentation."""
    import cv2

    from train.data import ArrayDataset, flip_transform

    face = cv2.resize(astronaut[40:260, 150:370], (64, 64), interpolation=cv2.INTER_AREA)
    x = np.stack([face] * 6)
    y = np.array([0, 1, 0, 1, 0, 1])
    no_flip = flip_transform()
    no_flip.transforms = no_flip.transforms[1:]  # keep only the scaling to [0, 1]

    def detail(t: torch.Tensor) -> float:
        gray = (t.permute(1, 2, 0).numpy().mean(-1) * 255).astype(np.float32)
        return float(cv2.Laplacian(gray, cv2.CV_32F).var())

    torch.manual_seed(0)
    always = ArrayDataset(x, y, no_flip, soften_reals=1.0)
    never = ArrayDataset(x, y, no_flip, soften_reals=0.0)
    for i in range(6):
        (soft, label), (plain, _) = always[i], never[i]
        assert float(label) == y[i]  # softening never changes a label
        if y[i] == 0:
            assert detail(soft) < 0.8 * detail(plain)
        else:
            assert torch.equal(soft, plain)


def test_cut_edges_fills_borders_like_a_photo_edge(astronaut):
    """train.data.cut_edges: black fill over 1-4 borders, 3-30 % of the side deep, the rest of the face untouched;
    the same fill detector.faces.crop_face gives a face whose square runs past the photo's edge."""
    from detector.config import Preprocessing
    from detector.faces import crop_face
    from train.data import CUT_BORDERS, CUT_DEPTH, cut_edges

    face = cv2.resize(astronaut[40:260, 150:370], (128, 128), interpolation=cv2.INTER_AREA)
    face = np.maximum(face, 1)  # no black pixel of its own
    rng = np.random.default_rng(0)
    counts = np.zeros(5, int)
    for _ in range(400):
        cut = cut_edges(face, rng)
        black = (cut == 0).all(-1)
        rows, cols = black.all(1), black.all(0)
        # every black pixel lies in a full black row or column at a border, and the rest equals the face
        assert np.array_equal(black, rows[:, None] | cols[None, :])
        assert np.array_equal(cut[~black], face[~black])
        depths = [int(np.argmin(r)) for r in (rows, rows[::-1], cols, cols[::-1]) if r[0]]
        assert all(CUT_DEPTH[0] * 128 - 1 <= d <= CUT_DEPTH[1] * 128 + 1 for d in depths)
        counts[len(depths)] += 1
    assert counts[0] == 0
    assert np.allclose(counts[1:] / 400, CUT_BORDERS, atol=0.07)  # how many borders, as drawn
    # a photo whose right edge runs through the square: crop_face fills the same way
    pre = Preprocessing(img_size=128, crop_margin=1.15, crop_shift_y=0.0)
    photo = np.maximum(astronaut, 1)
    real_cut = crop_face(photo, (photo.shape[1] - 80, 100, 100, 100), pre)
    black = (real_cut == 0).all(-1)
    assert black[:, -20:].all() and not black[:, :90].any()  # full black columns at the right border only


def test_cut_edges_treats_real_and_fake_alike(astronaut):
    """fit.py --cut-edges P: a face of either class is cut with chance P; labels never change."""
    from train.data import ArrayDataset, flip_transform

    face = np.maximum(cv2.resize(astronaut[40:260, 150:370], (64, 64), interpolation=cv2.INTER_AREA), 1)
    x = np.stack([face] * 400)
    y = np.tile([0, 1], 200)
    no_flip = flip_transform()
    no_flip.transforms = no_flip.transforms[1:]
    torch.manual_seed(0)
    half = ArrayDataset(x, y, no_flip, cut_edges=0.5)
    cut = np.zeros(400, bool)
    for i in range(400):
        img, label = half[i]
        assert float(label) == y[i]
        cut[i] = bool((img == 0).all(0).any())
    for cls in (0, 1):
        assert 0.38 < cut[y == cls].mean() < 0.62
    never = ArrayDataset(x[:4], y[:4], no_flip)
    assert all(not (never[i][0] == 0).all(0).any() for i in range(4))


@pytest.mark.parametrize(("option", "key", "bad"), [("--soften-reals", "soften_reals", "1.5"),
                                                    ("--plain-background", "plain_background", "-0.1"),
                                                    ("--sbi-detail", "sbi_detail", "2"),
                                                    ("--cut-edges", "cut_edges", "1.5")])
def test_a_training_probability_is_recorded_and_a_bad_one_refused(tmp_path, option, key, bad):
    """fit.py --soften-reals P, --plain-background P (tests/test_background.py) and --sbi-detail P run, are stored in the
    checkpoint's training record, and refuse what is not a probability."""
    data = make_layout(tmp_path / "d", "lower", n=6)
    _fit(data, tmp_path / "run", "--epochs", "1", "--augment", "flip", option, "0.5")
    config = json.loads((tmp_path / "run" / "best" / "config.json").read_text())
    assert config["training"][key] == 0.5
    with pytest.raises(SystemExit, match="must be a probability"):
        _fit(data, tmp_path / "bad", "--epochs", "1", option, bad)


def test_face_keypoints_only_searches_the_chosen_crops(astronaut):
    """fit.py --sbi finds keypoints of the real faces only (the only ones self-blended): the others stay NaN."""
    import cv2

    face = np.ascontiguousarray(cv2.resize(astronaut[0:256, 120:376], (128, 128), interpolation=cv2.INTER_AREA))
    crops = np.stack([face, face])
    both = face_keypoints(crops)
    assert np.isfinite(both).all()
    first = face_keypoints(crops, only=np.array([True, False]))
    assert np.array_equal(first[0], both[0]) and np.isnan(first[1]).all()


def test_sbi_changes_pixels_only_inside_the_mask(astronaut):
    rng = np.random.default_rng(3)
    face = astronaut[40:200, 140:300].copy()
    keypoints = np.array([[60, 70], [105, 70], [82, 95], [82, 120], [35, 80], [130, 80]], np.float32)
    for _ in range(5):
        fake, mask = self_blend(face, keypoints, rng)
        outside = mask == 0
        assert outside.any() and (~outside).any()
        assert np.array_equal(fake[outside], face[outside])
        assert np.abs(fake[~outside].astype(int) - face[~outside]).mean() > 0.5


def test_sbi_detail_resamples_or_sharpens_the_source_and_nothing_outside_the_mask(astronaut):
    """fit.py --sbi-detail P: the pseudo-fake's source face is resampled (softer) or sharpened, both large changes
    of its fine detail; the blend still leaves every pixel outside the mask as it was; detail=0 draws nothing more
    (earlier runs keep their exact pseudo-fakes)."""
    face = astronaut[40:200, 140:300].copy()
    keypoints = np.array([[60, 70], [105, 70], [82, 95], [82, 120], [35, 80], [130, 80]], np.float32)

    def detail(img):
        grey = cv2.cvtColor(np.clip(img, 0, 255).astype(np.uint8), cv2.COLOR_RGB2GRAY).astype(np.float32)
        return float(np.abs(cv2.Laplacian(grey, cv2.CV_32F)).mean())

    ratios = [detail(_jitter_detail(face.astype(np.float32), np.random.default_rng(s))) / detail(face)
              for s in range(16)]
    assert all(r < 0.7 or r > 1.2 for r in ratios)
    assert sum(r < 0.7 for r in ratios) >= 3 and sum(r > 1.2 for r in ratios) >= 3
    for seed in range(5):
        plain, mask = self_blend(face, keypoints, np.random.default_rng(seed))
        again, same_mask = self_blend(face, keypoints, np.random.default_rng(seed), detail=0.0)
        assert np.array_equal(plain, again) and np.array_equal(mask, same_mask)
        changed, mask_d = self_blend(face, keypoints, np.random.default_rng(seed), detail=1.0)
        assert np.array_equal(changed[mask_d == 0], face[mask_d == 0])
        assert not np.array_equal(changed, plain)


def test_sbi_mask_without_keypoints_is_a_centred_face_ellipse():
    mask = face_mask((64, 64), None, np.random.default_rng(0))
    assert mask[35, 32] > 0.5 and mask[0, 0] == 0 and mask.max() <= 1.0


def test_metrics_agree_with_hand_computed_values():
    y = np.array([0, 0, 1, 1])
    s = np.array([0.1, 0.4, 0.35, 0.8])
    m = binary_metrics(y, s, 0.5)
    assert m["roc_auc"] == pytest.approx(0.75)
    assert m["accuracy"] == pytest.approx(0.75)
    assert m["confusion_matrix"] == [[2, 0], [1, 1]]
    assert m["precision_real"] == pytest.approx(2 / 3) and m["recall_real"] == pytest.approx(1.0)
    assert m["f1_real"] == pytest.approx(0.8) and m["f1_fake"] == pytest.approx(2 / 3)
    assert m["macro_f1"] == pytest.approx((0.8 + 2 / 3) / 2)
    assert m["eer"] == pytest.approx(0.5)
    assert m["n"] == 4 and m["counts"] == {"real": 2, "fake": 2}


def test_grid_trains_each_configuration_and_writes_one_table(tmp_path):
    from train import grid

    data = make_layout(tmp_path / "data", "lower", n=6)
    rows = grid.main(["--data", str(data), "--out", str(tmp_path / "grid"), "--configs", "meso4",
                      "meso4+mesoinception4", "--img-size", str(SIZE), "--epochs", "1", "--",
                      "--batch-size", "8", "--workers", "0", "--no-cache", "--precision", "fp32"])
    assert [name for name, _ in rows] == ["meso4", "meso4+mesoinception4"]
    table = (tmp_path / "grid" / "table.md").read_text()
    assert "| meso4 |" in table and "| meso4+mesoinception4 |" in table
    assert (tmp_path / "grid" / "meso4" / "done.json").is_file()
    # finished runs are skipped the second time (no new log lines)
    before = (tmp_path / "grid" / "meso4" / "log.jsonl").read_text()
    grid.main(["--data", str(data), "--out", str(tmp_path / "grid"), "--configs", "meso4", "--img-size", str(SIZE),
               "--epochs", "1", "--", "--batch-size", "8", "--workers", "0", "--no-cache", "--precision", "fp32"])
    assert (tmp_path / "grid" / "meso4" / "log.jsonl").read_text() == before


def test_kill_9_during_training_then_resume_loses_at_most_the_current_epoch(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    data = make_layout(tmp_path / "data", "lower", n=24)
    out = tmp_path / "run"
    cmd = [sys.executable, "train/fit.py", "--data", str(data), "--backbones", "resnet18", "--img-size", "64",
           "--batch-size", "8", "--workers", "0", "--no-cache", "--out", str(out), "--precision", "fp32",
           "--epochs", "3", "--patience", "9"]
    root = Path(__file__).resolve().parents[1]
    proc = subprocess.Popen(cmd, cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    log = out / "log.jsonl"
    deadline = time.time() + 300
    while not (log.is_file() and log.read_text().count("\n") >= 1):
        assert time.time() < deadline and proc.poll() is None
        time.sleep(0.05)
    time.sleep(0.5)  # inside epoch 2
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done_epochs = log.read_text().count("\n")
    assert done_epochs in (1, 2)
    FusionDetector.from_pretrained(out / "best")  # never half-written
    resumed = subprocess.run([*cmd, "--resume"], cwd=root, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    epochs = [json.loads(line)["epoch"] for line in log.read_text().splitlines()]
    assert epochs == [1, 2, 3]


def test_face_cropping_makes_the_same_crops_as_inference(tmp_path, astronaut, tiny_checkpoint):
    from detector.api import Detector
    from train.data import FaceCropping

    from test_video import write_clip

    detector = Detector.from_pretrained(tiny_checkpoint)
    photo = tmp_path / "photo.png"
    Image.fromarray(astronaut).save(photo)
    cropping = FaceCropping(detector.pre, frames_per_video=4)
    [crop] = cropping.crops(photo)
    assert np.array_equal(crop, detector.analyze_image(photo, keep_crops=True).faces[0].crop)
    clip = write_clip(tmp_path / "clip.mp4", astronaut, n=12)
    assert len(cropping.crops(clip)) == 4


def test_training_on_full_photos_and_videos_with_detect_faces(tmp_path, astronaut):
    from test_video import write_clip

    rng = np.random.default_rng(0)
    for split, n in (("train", 3), ("val", 1)):
        for label in ("real", "fake"):
            folder = tmp_path / "data" / split / label
            folder.mkdir(parents=True)
            for i in range(n):
                img = astronaut.copy()
                if label == "fake":
                    img[90:140, 180:260] = rng.integers(0, 255, (50, 80, 3), dtype=np.uint8)
                Image.fromarray(np.roll(img, 8 * i, axis=1)).save(folder / f"{i}.jpg")
            write_clip(folder / "clip.mp4", astronaut, n=10)
    summary = fit.main(["--data", str(tmp_path / "data"), "--backbones", "meso4", "--img-size", "48",
                        "--batch-size", "4", "--workers", "0", "--no-cache", "--out", str(tmp_path / "run"),
                        "--precision", "fp32", "--epochs", "1", "--detect-faces", "--frames-per-video", "3"])
    config = json.loads((tmp_path / "run" / "best" / "config.json").read_text())
    assert config["training"]["train_images"] == 2 * (3 + 3)  # per class: 3 photos + 3 frames of the clip
    assert config["training"]["val_images"] == 2 * (1 + 3)
    assert summary["last_epoch"] == 1


def test_push_to_hub_without_network_fails_clearly(tiny_checkpoint, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(SystemExit, match="needs network access"):
        fit.push(tiny_checkpoint, "someone/deepfake-model")
    with pytest.raises(Exception, match="valid Hugging Face repo id"):
        fit.push(tiny_checkpoint, "../not a repo")


def test_temperature_recovers_a_known_overconfidence():
    from train.calibrate import fit_temperature

    rng = np.random.default_rng(0)
    true_logits = rng.normal(0, 2, 20000)
    labels = (rng.random(20000) < 1 / (1 + np.exp(-true_logits))).astype(float)
    assert fit_temperature(3.0 * true_logits, labels) == pytest.approx(3.0, rel=0.05)


def test_calibrated_checkpoint_keeps_ranking_and_decisions(tmp_path):
    from train import calibrate, model_card

    data = make_layout(tmp_path / "data", "lower", n=8)
    _fit(data, tmp_path / "run", "--epochs", "2", "--lr", "3e-3")
    cal = calibrate.main(["--model", str(tmp_path / "run" / "best"), "--data", str(data), "--out",
                          str(tmp_path / "cal")])
    assert cal["temperature"] > 0 and cal["log_loss_after"] <= cal["log_loss_before"] + 1e-9
    x, _, _ = load_split(discover(data)["test"], SIZE)
    before, after = (FusionDetector.from_pretrained(tmp_path / f).eval() for f in ("run/best", "cal"))
    t = torch.from_numpy(x).permute(0, 3, 1, 2).float() / 255
    with torch.no_grad():
        a, b = before(t).squeeze(1), after(t).squeeze(1)
    assert torch.allclose(b, a / cal["temperature"], atol=1e-4)  # same sign and order: same AUC and decisions
    config = json.loads((tmp_path / "cal" / "config.json").read_text())
    assert config["calibration"]["temperature"] == cal["temperature"] and "training" in config
    assert "## Calibration" in model_card.main(["--model", str(tmp_path / "cal")])
    with pytest.raises(SystemExit, match="validation"):
        calibrate.main(["--model", str(tmp_path / "cal"), "--data", str(data), "--split", "test",
                        "--out", str(tmp_path / "x")])


def test_several_datasets_train_together_with_named_pretrained_members(tmp_path):
    a = make_layout(tmp_path / "a", "manifest", n=4, seed=1)
    b = make_layout(tmp_path / "b", "lower", n=4, seed=2)
    fit.main(["--data", str(a), str(b), "--backbones", "efficientnet_lite0", "meso4", "--pretrained",
              "efficientnet_lite0", "--img-size", "32", "--batch-size", "8", "--workers", "0", "--no-cache",
              "--epochs", "1", "--augment", "light", "--out", str(tmp_path / "run")])
    config = json.loads((tmp_path / "run" / "best" / "config.json").read_text())
    assert config["pretrained"] == ["efficientnet_lite0"]
    assert config["training"]["train_images"] == 16 and config["training"]["val_images"] == 16
    with pytest.raises(SystemExit):  # a name that is not one of the backbones
        fit.main(["--data", str(a), "--backbones", "meso4", "--pretrained", "resnet18", "--img-size", "32",
                  "--out", str(tmp_path / "bad"), "--no-cache", "--workers", "0"])


def test_pack_with_detect_faces_writes_the_inference_crops(tmp_path, astronaut, tiny_checkpoint):
    from detector.api import Detector
    from train import pack

    folder = tmp_path / "photos"
    for split in ("train", "val"):
        for label in ("real", "fake"):
            (folder / split / label).mkdir(parents=True)
            Image.fromarray(astronaut).save(folder / split / label / "a.png")
            Image.fromarray(np.full((200, 200, 3), 90, np.uint8)).save(folder / split / label / "blank.png")
    info = pack.main(["--data", str(folder), "--out", str(tmp_path / "p"), "--count", "train=all", "val=all",
                      "--format", "webp", "--quality", "100", "--size", "64", "--detect-faces", "--crop-margin",
                      "1.4"])
    assert info["face_crops"]["no_face"] == 4 and info["counts"]["train"] == 2  # blank photos are left out
    detector = Detector.from_pretrained(tiny_checkpoint)
    expected = detector.analyze_image(astronaut, keep_crops=True, crop_margin=1.4).faces[0].crop
    with Image.open(discover(tmp_path / "p")["train"].files[0]) as im:
        packed = np.asarray(im.convert("RGB"), dtype=np.int16)
    assert packed.shape == expected.shape and np.abs(packed - expected).mean() < 3  # WebP q100 rounding only


def test_paired_bootstrap_sees_a_real_difference_and_not_a_fake_one():
    from train.metrics import paired_bootstrap_auc

    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 600)
    good = y + rng.normal(0, 0.6, 600)
    worse = y + rng.normal(0, 1.2, 600)
    diff = paired_bootstrap_auc(y, good, worse, resamples=300)
    assert diff["delta"] > 0 and diff["low"] > 0
    same = paired_bootstrap_auc(y, good, good + rng.normal(0, 1e-3, 600), resamples=300)
    assert same["low"] <= 0 <= same["high"]


def test_uncertain_band_keeps_verdicts_outside_it_right_often_enough():
    from train.calibrate import uncertain_band

    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 2000)
    p = 1 / (1 + np.exp(-(y * 2 - 1) * 2.0 - rng.normal(0, 1.5, 2000)))
    lo, hi = uncertain_band(y, p, 0.5, 0.95)
    assert 0 < lo <= 0.5 <= hi < 1
    assert y[p >= hi].mean() >= 0.95 and (1 - y[p < lo]).mean() >= 0.95
    assert uncertain_band(y, p, 0.5, 0.5 + 1e-9)[1] < hi  # a laxer target gives a narrower band
    perfect = np.where(y == 1, 0.9, 0.1)
    assert uncertain_band(y, perfect, 0.5, 0.99) == (0.1, 0.9)


def test_calibration_stores_the_band_and_the_detector_reports_uncertain(tmp_path):
    from detector.api import Detector
    from train import calibrate

    data = make_layout(tmp_path / "data", "manifest", n=10)
    torch.manual_seed(0)
    FusionDetector(["meso4"], preprocessing={"img_size": SIZE}).save_checkpoint(tmp_path / "src")
    info = calibrate.main(["--model", str(tmp_path / "src"), "--data", str(data), "--split", "val",
                           "--out", str(tmp_path / "cal"), "--band-precision", "0.9"])
    lo, hi = info["uncertain_band"]
    config = json.loads((tmp_path / "cal" / "config.json").read_text())
    assert config["preprocessing"]["uncertain_band"] == [lo, hi]
    detector = Detector.from_pretrained(tmp_path / "cal")
    if lo < hi:
        assert detector.label_for(lo) == detector.label_for((lo + hi) / 2) == "uncertain"
    if hi < 1:
        assert detector.label_for(hi) == "fake"
    if lo > 0:
        assert detector.label_for(lo - 1e-4) == "real"
    result = detector.analyze_image(np.full((64, 64, 3), 120, np.uint8), whole_image=True)
    assert result.to_dict()["uncertain_band"] == [lo, hi]
    assert result.label == detector.label_for(result.score)


def test_best_accuracy_threshold_finds_the_shifted_boundary():
    from train.calibrate import best_accuracy_threshold

    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 4000)
    scores = np.clip(0.7 + (y * 2 - 1) * 0.1 + rng.normal(0, 0.03, 4000), 0, 1)  # classes meet at 0.7, not 0.5
    assert best_accuracy_threshold(y, scores) == pytest.approx(0.7, abs=0.02)


def test_evaluating_a_folder_without_splits_scores_all_of_it(tmp_path):
    data = make_layout(tmp_path / "flat", "flat", n=4)  # 12 real + 12 fake, no splits
    FusionDetector(["meso4"], preprocessing={"img_size": SIZE}).save_checkpoint(tmp_path / "m")
    metrics = evaluate.main(["--model", str(tmp_path / "m"), "--data", str(data), "--out", str(tmp_path / "e")])
    assert metrics["n"] == 24 and metrics["split"] == "all"


def test_coverage_table_adds_one_kind_per_row_and_scores_each_row_on_every_column(tmp_path):
    from train import coverage_table

    a = make_layout(tmp_path / "a", "manifest", n=6, seed=1)
    b = make_layout(tmp_path / "b", "lower", n=6, seed=2)
    argv = ["--out", str(tmp_path / "table"), "--kind", f"swaps={a}", "--kind", f"others={b}",
            "--eval", f"A val={a}:val", f"B test={b}:test", "--variant", "flips=--augment flip",
            "--", "--backbones", "meso4", "--img-size", str(SIZE), "--epochs", "1", "--batch-size", "8",
            "--workers", "0", "--no-cache", "--precision", "fp32"]
    rows = coverage_table.main(argv)
    assert list(rows) == ["swaps", "swaps+others", "swaps+others, flips"]
    commands = {name: json.loads((tmp_path / "table" / folder / "best" / "config.json").read_text())
                ["training"]["command"] for name, folder in
                [("swaps", "swaps"), ("both", "swaps+others"), ("flips", "swaps+others,_flips")]}
    assert str(a) in commands["swaps"] and str(b) not in commands["swaps"]
    assert str(a) in commands["both"] and str(b) in commands["both"] and "--augment flip" not in commands["both"]
    assert "--augment flip" in commands["flips"]
    assert rows["swaps"]["A val"]["n"] == 12 and rows["swaps"]["B test"]["n"] == 12
    table = (tmp_path / "table" / "table.md").read_text()
    cell = f"{rows['swaps+others']['B test']['roc_auc']:.3f} / {rows['swaps+others']['B test']['accuracy']:.3f}"
    assert "| trained on | A val | B test |" in table and "| swaps+others | " in table and cell in table
    saved = json.loads((tmp_path / "table" / "table.json").read_text())
    assert saved["rows"]["swaps"]["B test"]["roc_auc"] == rows["swaps"]["B test"]["roc_auc"]
    # a second call trains and scores nothing again
    logs = {p: p.read_text() for p in (tmp_path / "table").glob("*/log.jsonl")}
    scores = {p: p.stat().st_mtime_ns for p in (tmp_path / "table").glob("*/eval/*/metrics.json")}
    assert len(logs) == 3 and len(scores) == 6
    coverage_table.main(argv)
    assert {p: p.read_text() for p in logs} == logs
    assert {p: p.stat().st_mtime_ns for p in scores} == scores


def test_coverage_table_refuses_a_column_without_a_split(tmp_path):
    from train import coverage_table

    with pytest.raises(SystemExit):
        coverage_table.main(["--out", str(tmp_path), "--kind", "a=x", "--eval", "A=somewhere"])


def test_train_last_fine_tunes_only_the_last_stages_and_keeps_the_frozen_statistics(tmp_path):
    data = make_layout(tmp_path / "data", "lower", n=6)
    source = FusionDetector(["resnet18"], preprocessing={"img_size": SIZE})  # timm groups: stem, layer1..layer4
    source.save_checkpoint(tmp_path / "src")
    _fit(data, tmp_path / "run", "--backbones", "resnet18", "--epochs", "1", "--lr", "1e-2",
         "--init", str(tmp_path / "src"), "--train-last", "2")
    before, after = source.state_dict(), torch.load(tmp_path / "run" / "last.pt", weights_only=True)["model"]
    frozen = [k for k in before if k.startswith(("backbones.0.conv1", "backbones.0.bn1", "backbones.0.layer1",
                                                 "backbones.0.layer2"))]
    tuned = [k for k in before if k.startswith(("backbones.0.layer3", "backbones.0.layer4"))]
    assert frozen and tuned
    # frozen weights and their BatchNorm running statistics are untouched; the last two stages and the head learnt
    assert all(torch.equal(before[k], after[k]) for k in frozen)
    assert any(not torch.equal(before[k], after[k]) for k in tuned if k.endswith("conv1.weight"))
    assert any(not torch.equal(before[k], after[k]) for k in tuned if k.endswith("running_mean"))
    assert not torch.equal(before["head.0.weight"], after["head.0.weight"])
    config = json.loads((tmp_path / "run" / "best" / "config.json").read_text())
    assert config["training"]["train_last"] == 2 and config["freeze_backbones"] is False
    from train import model_card

    assert "only its last 2 parameter groups and the head fine-tuned" in model_card.main(
        ["--model", str(tmp_path / "run" / "best")])
    for extra, message in ((["--backbones", "meso4", "--train-last", "1"], "no parameter grouping"),
                           (["--backbones", "resnet18", "--train-last", "9"], "only 5 parameter groups"),
                           (["--backbones", "resnet18", "--train-last", "0"], "N >= 1"),
                           (["--backbones", "resnet18", "--train-last", "1", "--freeze-backbones"], "exclude")):
        with pytest.raises(SystemExit, match=message):
            fit.main(["--data", str(data), "--img-size", str(SIZE), "--workers", "0", "--no-cache",
                      "--out", str(tmp_path / "bad"), *extra])


def test_taef2_reconstructs_any_size_with_the_published_names():
    """train/taef2.py: the tiny FLUX.2 autoencoder gives back an image of the input's size (odd sizes padded and cut);
    its parameter names are those of the published files, and with them (TAESD_WEIGHTS, a folder holding
    taef2_encoder.pth / taef2_decoder.pth from github:madebyollin/taesd) the portrait comes back close to itself."""
    from skimage import data

    from train.taef2 import TinyAutoencoder

    model = TinyAutoencoder(None)
    rgb = data.astronaut()[:101, :67]
    assert model.reconstruct(rgb).shape == rgb.shape
    names = set(model.encoder.state_dict()) | {f"d.{k}" for k in model.decoder.state_dict()}
    assert {"11.pool.1.weight", "13.conv.4.bias", "14.weight"} <= names  # the deepest blocks carry the norm branch
    assert {"d.3.pool.0.weight", "d.19.weight", "d.18.conv.0.weight"} <= names


def test_taef2_with_the_published_weights():
    import os

    from skimage import data

    from train.taef2 import TinyAutoencoder

    folder = os.environ.get("TAESD_WEIGHTS")
    if not folder:
        pytest.skip("TAESD_WEIGHTS is not set (a folder with the taef2 weights of github:madebyollin/taesd)")
    model = TinyAutoencoder(Path(folder))
    out = model.reconstruct(data.astronaut())
    assert np.abs(out.astype(int) - data.astronaut()).mean() < 8  # 4.2 measured


def test_pack_every_face_of_real_photos(tmp_path):
    """pack.py --detect-faces --every-face: each face of a photo becomes a crop (largest first), identically
    processed; without it only the largest face is packed."""
    import csv

    from skimage import data

    from train import pack

    folder = tmp_path / "photos"
    folder.mkdir()
    astro = data.astronaut()
    group = np.concatenate([astro, astro[::2, ::2].repeat(2, 0).repeat(2, 1)], axis=1)
    Image.fromarray(group).save(folder / "two.png")
    with open(folder / "manifest.csv", "w", newline="") as fh:
        csv.writer(fh).writerows([["file", "label", "split"], ["two.png", "real", "train"]])
    counts = {}
    for extra in ([], ["--every-face"]):
        out = tmp_path / f"p{len(extra)}"
        pack.main(["--data", str(folder), "--out", str(out), "--count", "train=all", "--format", "png", "--size", "64",
                   "--detect-faces", *extra])
        counts[bool(extra)] = len(list((out / "images").iterdir()))
    assert counts == {False: 1, True: 2}


def test_patch_windows_cover_the_crop_and_score_as_their_mean():
    from train import patches

    assert patches.windows(128) == [0] and patches.windows(256) == [0, 128] and patches.windows(300) == [0, 86, 172]
    torch.manual_seed(0)
    model = FusionDetector(["meso4"], preprocessing={"img_size": 128}).eval()
    x = np.random.default_rng(0).integers(0, 255, (3, 256, 256, 3), dtype=np.uint8)
    by_hand = np.mean([model(torch.from_numpy(np.ascontiguousarray(x[:, r:r + 128, c:c + 128])).permute(0, 3, 1, 2)
                             .float() / 255).squeeze(1).detach().numpy() for r in (0, 128) for c in (0, 128)], axis=0)
    np.testing.assert_allclose(patches.logits(model, x, "patch"), by_hand, atol=1e-5)
    # the whole view sees the crop downscaled: a pixel-level checker (a generator's kind of trace) averages away
    checker = np.zeros((1, 256, 256, 3), np.uint8)
    checker[0, ::2, ::2] = checker[0, 1::2, 1::2] = 255
    assert np.ptp(patches.downscale(checker)) <= 1


def test_patch_comparison_trains_both_views_and_reports_per_source(tmp_path):
    from train import patches

    rng = np.random.default_rng(0)
    (tmp_path / "img").mkdir()
    rows = []
    for split in ("train", "val", "test"):
        for label in (0, 1):
            for i in range(6 if split != "test" else 3 + label):
                img = np.clip(rng.normal(120, 20, (256, 256, 3)), 0, 255).astype(np.uint8)
                if label:
                    img[::2, ::2] = 255 - img[::2, ::2]
                name = f"img/{split}_{label}_{i}.png"
                Image.fromarray(img).save(tmp_path / name)
                source = ("gen" if label else "camera") + ("-held-out" if split == "test" else "")
                rows.append([name, "fake" if label else "real", split, source])
    with open(tmp_path / "manifest.csv", "w", newline="") as fh:
        csv.writer(fh).writerows([["file", "label", "split", "source"], *rows])
    result = patches.main(["--data", str(tmp_path), "--out", str(tmp_path / "out"), "--epochs", "1",
                           "--epoch-size", "16", "--batch-size", "8", "--score", str(tmp_path)])
    assert set(result["views"]) == {"whole", "patch"} and result["train"] == result["val"] == 12
    assert set(result["views"]["patch"]["per_source"]) == {"gen"} and "patch_minus_whole" in result
    # the test split (the held-out pair) is scored by each view, never trained or chosen on
    for view in ("whole", "patch"):
        pair = result["views"][view]["held_out"][str(tmp_path)]
        assert pair["n"] == 7 and 0.0 <= pair["roc_auc"] <= 1.0
        assert set(pair["mean_p_fake"]) == {"gen-held-out", "camera-held-out"}
        assert all(0.0 < p < 1.0 for p in pair["mean_p_fake"].values())
    assert json.loads((tmp_path / "out" / "patches.json").read_text())["views"]["whole"]["faces_per_s"] > 0


def test_jpeg_quality_is_set_by_calibration_and_measured_by_evaluation(tmp_path):
    """calibrate.py --jpeg-quality fits the temperature on round-tripped crops and stores the setting;
    evaluate.py --jpeg-quality scores with another one (0: none) without touching the checkpoint."""
    from detector.images import jpeg_roundtrip
    from train import calibrate

    data = make_layout(tmp_path / "data", "manifest", n=10)
    torch.manual_seed(0)
    src = FusionDetector(["resnet18"], preprocessing={"img_size": SIZE}).save_checkpoint(tmp_path / "src")
    info = calibrate.main(["--model", str(src), "--data", str(data), "--split", "val", "--out",
                           str(tmp_path / "cal"), "--jpeg-quality", "40", "--band-precision", "0"])
    config = json.loads((tmp_path / "cal" / "config.json").read_text())
    assert config["preprocessing"]["jpeg_quality"] == 40 and "--jpeg-quality 40" in info["command"]
    # the temperature was fitted on what the runtime sees with the round trip
    x, _, _ = load_split(discover(data)["val"], SIZE)
    plain = FusionDetector.from_pretrained(src).eval()
    cal = FusionDetector.from_pretrained(tmp_path / "cal").eval()
    t = torch.from_numpy(jpeg_roundtrip(x, 40)).permute(0, 3, 1, 2).float() / 255
    with torch.no_grad():
        assert torch.allclose(cal(t), plain(t) / info["temperature"], atol=1e-4)

    runs = {}
    for q in ("0", "40", None):
        out = tmp_path / f"eval-{q}"
        evaluate.main(["--model", str(tmp_path / "cal"), "--data", str(data), "--split", "test", "--out", str(out)]
                      + (["--jpeg-quality", q] if q else []))
        with open(out / "scores.csv", newline="") as fh:
            runs[q] = [float(r["score"]) for r in csv.DictReader(fh)]
    assert runs["40"] == runs[None]  # the checkpoint's own setting
    gap = max(abs(a - b) for a, b in zip(runs["0"], runs["40"]))
    assert gap > 1e-4  # without the round trip: other scores
    assert json.loads((tmp_path / "cal" / "config.json").read_text())["preprocessing"]["jpeg_quality"] == 40
    with pytest.raises(SystemExit, match="jpeg-quality"):
        calibrate.main(["--model", str(src), "--data", str(data), "--out", str(tmp_path / "x"), "--jpeg-quality", "101"])
