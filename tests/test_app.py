"""The real app on 127.0.0.1, driven by gradio_client."""

from __future__ import annotations

import pytest
from gradio_client import Client, handle_file

from app_server import ROOT, AppServer

EXAMPLES = ROOT / "assets" / "examples"


@pytest.fixture(scope="module")
def server(tiny_checkpoint, tmp_path_factory):
    srv = AppServer(tiny_checkpoint, tmp_path_factory.mktemp("app") / "app.log").wait()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def client(server):
    return Client(server.url, verbose=False)


def image_args(path, whole=False, model="bundled default", threshold=0.5, conf=0.5, margin=1.15):
    return dict(image=handle_file(str(path)), whole_image=whole, model=model, threshold=threshold,
                face_conf=conf, margin=margin, api_name="/analyze_image")


def test_api_lists_both_endpoints(client):
    names = set(client.view_api(print_info=False, return_format="dict")["named_endpoints"])
    assert {"/analyze_image", "/analyze_video"} <= names


def test_analyze_image_returns_the_pipeline_json(client):
    verdict, annotated, cards, data = client.predict(**image_args(EXAMPLES / "astronaut.jpg"))
    assert data["n_faces"] == 1 and data["width"] == 512
    face = data["faces"][0]
    assert 0.0 <= face["score"] <= 1.0 and face["label"] in ("real", "fake")
    assert face["heatmaps"] == ["fused", "meso4", "resnet18"]
    assert cards.count('class="card face-card"') == 1 and cards.count("<img") == 4  # crop + three heatmaps
    words = {"real": "Likely real", "fake": "Likely fake"}[face["label"]]
    assert f"{words} · {face['score'] * 100:.0f}%" in verdict and "Scope:" in verdict


def test_group_photo_finds_every_face(client):
    _, _, cards, data = client.predict(**image_args(EXAMPLES / "group.jpg"))
    assert data["n_faces"] == 5 and cards.count('class="card face-card"') == 5
    for i in range(1, 6):  # cards are numbered as the boxes, in reading order
        assert f"<b>Face {i}</b>" in cards


def test_threshold_changes_the_verdict(client):
    _, _, _, low = client.predict(**image_args(EXAMPLES / "astronaut.jpg", threshold=0.01))
    _, _, _, high = client.predict(**image_args(EXAMPLES / "astronaut.jpg", threshold=0.99))
    assert low["faces"][0]["label"] == "fake" and high["faces"][0]["label"] == "real"


def test_no_face_is_a_normal_answer_and_whole_image_works(client, tmp_path):
    from PIL import Image
    from skimage import data as skdata

    path = tmp_path / "coffee.png"
    Image.fromarray(skdata.coffee()).save(path)
    verdict, _, _, data = client.predict(**image_args(path))
    assert data["n_faces"] == 0 and data["label"] == "no face" and "No face found" in verdict
    _, _, _, whole = client.predict(**image_args(path, whole=True))
    assert whole["n_faces"] == 1 and whole["whole_image"] is True


def test_analyze_video_returns_tracks_and_timeline(client):
    verdict, plot, cards, data = client.predict(
        video=handle_file(str(EXAMPLES / "clip.webm")), model="bundled default", threshold=0.5,
        frames=8, face_conf=0.5, margin=1.15, aggregation="mean", api_name="/analyze_video")
    assert data["frames_sampled"] == 8 and len(data["tracks"]) == 1
    assert data["tracks"][0]["n_frames"] >= 6 and data["top_track"] == 1
    assert plot is not None and cards.count('class="card person"') == 1
    assert "Person 1 is the most suspicious" in verdict and f"{data['score'] * 100:.0f}%" in verdict


def test_bad_upload_gives_a_clear_error_and_the_server_keeps_serving(client, tmp_path):
    bad = tmp_path / "notes.jpg"
    bad.write_text("not an image")
    _, _, _, failed = client.predict(**image_args(bad))  # the error is a result the page shows beside the input
    assert "not an image" in failed["error"] and failed["error_kind"] == "input"
    _, _, _, data = client.predict(**image_args(EXAMPLES / "astronaut.jpg"))
    assert data["n_faces"] == 1


def test_unknown_model_is_a_clear_error(client):
    _, _, _, failed = client.predict(**image_args(EXAMPLES / "astronaut.jpg", model="../../etc"))
    assert failed["error"].startswith("Cannot load model")


def test_a_video_sent_as_a_photo_is_named_and_pointed_to_the_video_tab(client, tmp_path):
    disguised = tmp_path / "clip.jpg"
    disguised.write_bytes((EXAMPLES / "clip.webm").read_bytes())
    _, _, _, failed = client.predict(**image_args(disguised))
    assert "this is a video" in failed["error"] and failed["error_kind"] == "other tab"


def test_a_caller_that_sends_only_the_file_gets_the_checkpoints_settings(tmp_path):
    """An app started on a checkpoint with threshold 0.7, margin 1.4, an uncertain band and 6 video frames uses
    exactly those when a gradio_client call leaves the settings out."""
    import torch

    from detector.model import FusionDetector

    torch.manual_seed(0)
    model = FusionDetector(["meso4"], preprocessing={"img_size": 64, "threshold": 0.7, "crop_margin": 1.4,
                                                     "uncertain_band": [0.6, 0.8], "video_frames": 6})
    folder = model.save_checkpoint(tmp_path / "own")
    srv = AppServer(folder, tmp_path / "app.log").wait()
    try:
        client = Client(srv.url, verbose=False)
        _, _, _, data = client.predict(image=handle_file(str(EXAMPLES / "astronaut.jpg")),
                                       api_name="/analyze_image")
        *_, clip = client.predict(video=handle_file(str(EXAMPLES / "clip.webm")), api_name="/analyze_video")
    finally:
        srv.stop()
    assert data["threshold"] == 0.7 and data["uncertain_band"] == [0.6, 0.8]
    assert clip["frames_sampled"] == 6 and clip["threshold"] == 0.7
    face = data["faces"][0]
    x, y, w, h = face["box"]
    assert face["crop_box"][2] == round(max(w, h) * 1.4)  # the crop square is 1.4 face boxes wide
    expected = "uncertain" if 0.6 <= face["score"] < 0.8 else "fake" if face["score"] >= 0.7 else "real"
    assert face["label"] == expected


def test_verdict_sentences_read_and_numbers_agree(client, tmp_path):
    """One face: a sentence that reads; the API's error carries no page advice; persons are numbered from 1 in the
    JSON, the sentence and the cards alike; the no-face note is said once."""
    import app

    import html

    verdict, _, _, data = client.predict(**image_args(EXAMPLES / "astronaut.jpg"))
    verdict = html.unescape(verdict)
    assert "One face was found: the model's estimate that it is fake is" in verdict
    assert "The face the model" not in verdict
    disguised = tmp_path / "clip.jpg"
    disguised.write_bytes((EXAMPLES / "clip.webm").read_bytes())
    _, _, _, failed = client.predict(**image_args(disguised))
    assert "button" not in failed["error"] and "below" not in failed["error"]
    shown = app.error_controls(failed)[0]["value"]
    assert "Use the button below to open the Video tab" in shown  # the page adds its own advice
    verdict, _, cards, clip = client.predict(video=handle_file(str(EXAMPLES / "clip.webm")),
                                             api_name="/analyze_video")
    assert clip["tracks"][0]["id"] == 1 and clip["top_track"] == 1
    assert "Person 1 is the most suspicious" in verdict and "<b>Person 1</b>" in cards
    assert clip["tracks"][0]["evidence"]  # the evidence frames come with the result
    from PIL import Image
    from skimage import data as skdata

    Image.fromarray(skdata.coffee()).save(tmp_path / "coffee.png")
    _, _, _, none = client.predict(**image_args(tmp_path / "coffee.png"))
    note = app.error_controls(none)[0]["value"]
    assert note.count("No face was found") == 1 and "analyse it as one face" in note
    verdict, _, _, whole = client.predict(**image_args(tmp_path / "coffee.png", whole=True))
    assert "No face was detected in this image" in whole["message"] and "whole image" in verdict


def test_the_timeline_reads_at_phone_width(astronaut, tmp_path, tiny_checkpoint):
    from detector.api import Detector
    from detector.render import timeline_figure
    from test_video import write_clip

    result = Detector.from_pretrained(tiny_checkpoint).analyze_video(write_clip(tmp_path / "c.mp4", astronaut),
                                                                     frames=6)
    fig = timeline_figure(result)
    width_px = fig.get_figwidth() * fig.dpi
    legend = fig.axes[0].get_legend()
    font_px = legend.get_texts()[0].get_fontsize() * fig.dpi / 72  # points -> pixels in the rendered figure
    assert font_px * 390 / width_px >= 8  # still at least 8 px high when the plot is 390 px wide
    fig.canvas.draw()
    legend_box = legend.get_window_extent()
    axes_box = fig.axes[0].get_window_extent()
    assert legend_box.y1 <= axes_box.y0 + 1  # below the plot, never over the curves
