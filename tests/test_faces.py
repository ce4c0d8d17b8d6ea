import numpy as np
import pytest

from detector.config import Preprocessing
from detector.errors import ConfigError
from detector.faces import Face, FaceFinder, crop_box, crop_face, merge_detections


@pytest.fixture(scope="module")
def finder():
    f = FaceFinder()
    yield f
    f.close()


def _centre(box):
    return box[0] + box[2] / 2, box[1] + box[3] / 2


def test_astronaut_has_one_face_at_the_right_place(finder, astronaut):
    faces = finder.detect(astronaut)
    assert len(faces) == 1
    cx, cy = _centre(faces[0].box)
    # Eileen Collins' face in skimage's astronaut photo: centred near (224, 118), about 100 px wide
    assert 200 < cx < 250 and 95 < cy < 145
    assert 70 < faces[0].box[2] < 140
    assert len(faces[0].keypoints) == 6


def _head(astronaut):
    return astronaut[30:210, 130:320]  # head and hair, 180x190


def test_group_image_with_small_and_large_faces_all_found(finder, astronaut):
    import cv2

    rng = np.random.default_rng(0)
    canvas = np.full((1100, 2000, 3), 120, np.uint8)
    canvas += rng.integers(0, 30, canvas.shape, dtype=np.uint8)
    head = _head(astronaut)
    placed = []
    for i, (scale, x, y) in enumerate([(1.6, 60, 80), (1.0, 480, 120), (0.7, 820, 200), (0.5, 1100, 250),
                                       (0.45, 1350, 600), (1.2, 1600, 500), (0.8, 300, 650)]):
        h = cv2.resize(head, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        if i % 2:
            h = h[:, ::-1]
        canvas[y:y + h.shape[0], x:x + h.shape[1]] = h
        placed.append((x + h.shape[1] / 2, y + h.shape[0] / 2 + 10 * scale))
    faces = finder.detect(canvas)
    assert len(faces) == len(placed)
    for px, py in placed:
        assert any(abs(_centre(f.box)[0] - px) < 60 and abs(_centre(f.box)[1] - py) < 80 for f in faces)


def test_photos_without_faces_give_zero_faces(finder):
    from skimage import data

    for photo in (data.coffee(), data.rocket(), np.zeros((300, 300, 3), np.uint8)):
        assert finder.detect(photo) == []


def test_tiny_image_gives_zero_faces_not_an_error(finder):
    assert finder.detect(np.zeros((1, 1, 3), np.uint8)) == []


def test_crop_geometry_follows_the_config(astronaut):
    pre = Preprocessing(img_size=128, crop_margin=1.5, crop_shift_y=0.1)
    box = (100, 100, 80, 60)
    x0, y0, side = crop_box(box, pre)
    assert side == 120
    assert (x0 + side / 2, y0 + side / 2) == pytest.approx((140, 130 + 8), abs=1)
    crop = crop_face(astronaut, box, pre)
    assert crop.shape == (128, 128, 3) and crop.dtype == np.uint8


def test_crop_at_the_border_is_zero_padded():
    img = np.full((100, 100, 3), 200, np.uint8)
    crop = crop_face(img, (0, 0, 40, 40), Preprocessing(img_size=64, crop_margin=2.0, crop_shift_y=0.0))
    assert crop[0, 0].tolist() == [0, 0, 0]  # outside the image
    assert crop[-1, -1].tolist() == [200, 200, 200]  # inside


def test_crop_inside_moves_the_square_into_the_photo():
    """crop_inside: a square past the edge is moved inside the photo (shrunk to its shorter side when larger): the
    same face, no black fill; a square already inside is left as it is."""
    from detector.faces import crop_square

    img = np.full((100, 160, 3), 200, np.uint8)
    inside = Preprocessing(img_size=64, crop_margin=2.0, crop_shift_y=0.0, crop_inside=True)
    assert crop_square((0, 0, 40, 40), inside, 160, 100) == (0, 0, 80)  # moved, same side
    assert crop_square((60, 30, 40, 40), inside, 160, 100) == crop_box((60, 30, 40, 40), inside)  # untouched
    assert crop_square((20, 0, 100, 100), inside, 160, 100) == (20, 0, 100)  # 200 px shrunk to 100, centred on the face
    crop = crop_face(img, (0, 0, 40, 40), inside)
    assert (crop == 200).all()
    with pytest.raises(ConfigError):
        Preprocessing(crop_inside="yes")


def test_merge_keeps_the_most_confident_of_overlapping_boxes():
    faces = [Face((10, 10, 50, 50), 0.6), Face((12, 11, 50, 50), 0.9), Face((200, 10, 50, 50), 0.7)]
    merged = merge_detections(faces)
    assert [f.confidence for f in merged] == [0.9, 0.7]


def test_faces_are_numbered_in_reading_order():
    """Rows from top to bottom, left to right within a row, even when a row's faces differ a little in height."""
    from detector.faces import Face, reading_order

    def face(x, y, side=40):
        return Face((x, y, side, side), 0.9)

    shuffled = [face(300, 210), face(20, 25), face(160, 10, 60), face(30, 200), face(400, 30)]
    ordered = [f.box[:2] for f in reading_order(shuffled)]
    assert ordered == [(20, 25), (160, 10), (400, 30), (30, 200), (300, 210)]
