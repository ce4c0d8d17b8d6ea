"""A corpus of bad, odd and hostile inputs, generated on the spot.

Each entry: (file name, kind "image"/"video", expectation). The expectation is either ``OK`` (a correct result) or a
regular expression the error message must match (a clear, specific message).
"""

from __future__ import annotations

import io
import os
import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

OK = "ok"


def _png_bomb(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 1000))
            + chunk(b"IEND", b""))


def _jpeg(img: Image.Image, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "JPEG", **kw)
    return buf.getvalue()


def _png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def _video(path: Path, frames: list[np.ndarray], fps: float = 10.0) -> Path:
    h, w = frames[0].shape[:2] if frames else (64, 64)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    for f in frames:
        writer.write(cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
    writer.release()
    return path


def _audio_only(path: Path) -> Path:
    import av

    container = av.open(str(path), "w")
    stream = container.add_stream("aac", rate=16000)
    stream.layout = "mono"
    for i in range(10):
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
        frame.sample_rate, frame.pts = 16000, i * 1024
        for packet in stream.encode(frame):
            container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)
    container.close()
    return path


def grid_of_faces(astronaut: np.ndarray, n_side: int = 7, cell: int = 150) -> np.ndarray:
    head = cv2.resize(astronaut[30:210, 130:320], (cell - 20, cell - 20), interpolation=cv2.INTER_AREA)
    canvas = np.full((n_side * cell, n_side * cell, 3), 100, np.uint8)
    for r in range(n_side):
        for c in range(n_side):
            canvas[r * cell + 10:r * cell + cell - 10, c * cell + 10:c * cell + cell - 10] = head
    return canvas


def build(folder: Path, astronaut: np.ndarray) -> list[tuple[str, str, str]]:
    """Write the corpus into ``folder``; return its entries."""
    folder.mkdir(parents=True, exist_ok=True)
    photo = Image.fromarray(astronaut)
    jpeg = _jpeg(photo, quality=90)
    clip_frames = [np.roll(np.full((180, 320, 3), 80, np.uint8), i, axis=1) for i in range(20)]
    for f in clip_frames:
        f[20:160, 90:220] = cv2.resize(astronaut[30:210, 130:320], (130, 140))
    clip = _video(folder / "_clip_source.mp4", clip_frames)
    clip_bytes = clip.read_bytes()
    clip.unlink()
    entries: list[tuple[str, str, str]] = []

    def put(name: str, data: bytes, kind: str, expect: str) -> None:
        (folder / name).write_bytes(data)
        entries.append((name, kind, expect))

    put("zero.jpg", b"", "image", "empty")
    put("truncated.jpg", jpeg[: len(jpeg) // 3], "image", "damaged or truncated")
    put("truncated.png", _png(photo)[:5000], "image", "damaged or truncated")
    put("truncated.mp4", clip_bytes[: len(clip_bytes) // 2], "video", "truncated|no video stream|not a video")
    put("text.jpg", b"Just some text, not a picture.\n" * 20, "image", "not an image")
    put("page.jpg", b"<!doctype html><html><body><h1>Hello</h1></body></html>", "image", "not an image")
    put("drawing.jpg", b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect/></svg>', "image",
        "not an image")
    put("document.jpg", b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n", "image", "not an image")
    put("image-named.mp4", jpeg, "video", "is an image, not a video")
    put("video-named.jpg", clip_bytes, "image", "is a video, not an image")
    put("one-pixel.png", _png(Image.new("RGB", (1, 1), (10, 20, 30))), "image", "only 1x1 pixels")
    put("bomb.png", _png_bomb(30000, 30000), "image", "larger than the limit|too large")
    put("grayscale.jpg", _jpeg(photo.convert("L")), "image", OK)
    put("rgba.png", _png(photo.convert("RGBA")), "image", OK)
    put("cmyk.jpg", _jpeg(photo.convert("CMYK")), "image", OK)
    put("sixteen-bit.png", _png(Image.fromarray(astronaut[:, :, 1].astype(np.uint16) * 257)), "image", OK)
    put("palette.png", _png(photo.convert("P")), "image", OK)
    gif = io.BytesIO()
    photo.save(gif, "GIF", save_all=True, append_images=[photo.rotate(5)], duration=100, loop=0)
    put("animated.gif", gif.getvalue(), "image", OK)
    webp = io.BytesIO()
    photo.save(webp, "WEBP", quality=80)
    put("photo.webp", webp.getvalue(), "image", OK)
    exif = Image.Exif()
    exif[0x0112] = 8  # stored rotated; displays upright after transposition
    put("exif-rotated.jpg", _jpeg(photo.rotate(-90, expand=True), exif=exif), "image", OK)
    from skimage import data

    put("no-face.png", _png(Image.fromarray(data.coffee())), "image", OK)
    put("forty-nine-faces.jpg", _jpeg(Image.fromarray(grid_of_faces(astronaut)), quality=92), "image", OK)
    _audio_only(folder / "audio-only.mp4")
    entries.append(("audio-only.mp4", "video", "no video stream"))
    _video(folder / "zero-frames.mp4", [])
    entries.append(("zero-frames.mp4", "video", "no video stream|no frames"))
    long_frames = [np.full((48, 64, 3), i % 255, np.uint8) for i in range(1200)]
    _video(folder / "long.mp4", long_frames, fps=0.5)  # 40 minutes at 0.5 fps
    entries.append(("long.mp4", "video", OK))
    big = [np.full((2160, 3840, 3), 60 + 20 * i, np.uint8) for i in range(3)]
    _video(folder / "uhd.mp4", big)
    entries.append(("uhd.mp4", "video", OK))
    put("name with spaces.jpg", jpeg, "image", OK)
    put("fälschung-写真-😀.jpg", jpeg, "image", OK)
    put("x" * 200 + ".jpg", jpeg, "image", OK)
    put("UPPER.JPG", jpeg, "image", OK)
    put("clip.mp4", clip_bytes, "video", OK)
    put("tall-1x4000.png", _png(Image.new("RGB", (1, 4000), (90, 90, 90))), "image", "only 1x4000 pixels")
    uhd = np.pad(astronaut, ((824, 824), (1664, 1664), (0, 0)), constant_values=110)  # 3840 x 2160
    put("photo-4k.jpg", _jpeg(Image.fromarray(uhd), quality=85), "image", OK)
    (folder / "passwd-link.jpg").symlink_to("/etc/passwd")
    entries.append(("passwd-link.jpg", "image", "not an image"))
    # a name that is not valid UTF-8 (bytes a Latin-1 system would write): kept through JSON and CAM file names
    with open(os.path.join(os.fsencode(folder), b"caf\xe9-latin1.jpg"), "wb") as fh:
        fh.write(jpeg)
    entries.append((os.fsdecode(b"caf\xe9-latin1.jpg"), "image", OK))
    return entries


def build_special(folder: Path) -> list[tuple[str, str, str]]:
    """Things that are not regular files: a named pipe called p.jpg (reading it would block forever) and a link to
    /dev/zero (it never ends). A folder walk passes them over; named on the command line, each must be refused by
    kind, without being opened. Not for the app: a browser can only upload bytes."""
    folder.mkdir(parents=True, exist_ok=True)
    os.mkfifo(folder / "p.jpg")
    (folder / "dev-zero.jpg").symlink_to("/dev/zero")
    return [("p.jpg", "image", "named pipe"), ("dev-zero.jpg", "image", "is a device")]
