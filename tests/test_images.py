import io

import numpy as np
import pytest
from PIL import Image

from detector.errors import InputError
from detector.images import load_image


def _save(img: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


@pytest.fixture(scope="module")
def rgb(astronaut):
    return Image.fromarray(astronaut)


def test_modes_are_converted_to_rgb_uint8(rgb):
    for img in (rgb.convert("L"), rgb.convert("RGBA"), rgb.convert("P"), rgb.convert("CMYK"), rgb.convert("LA")):
        fmt = "JPEG" if img.mode in ("CMYK", "L") else "PNG"
        out = load_image(_save(img, fmt))
        assert out.shape == (512, 512, 3) and out.dtype == np.uint8


def test_sixteen_bit_png_is_scaled(astronaut):
    arr16 = (astronaut[:, :, 0].astype(np.uint16) * 257)
    out = load_image(_save(Image.fromarray(arr16), "PNG"))
    assert out.shape == (512, 512, 3)
    assert abs(int(out[100, 100, 0]) - int(astronaut[100, 100, 0])) <= 1


def test_exif_orientation_is_applied(rgb):
    small = rgb.resize((64, 32))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 CW on display
    out = load_image(_save(small, "JPEG", exif=exif))
    assert out.shape == (64, 32, 3)


def test_transparent_pixels_become_white():
    img = Image.new("RGBA", (8, 8), (255, 0, 0, 0))
    assert load_image(_save(img, "PNG"))[0, 0].tolist() == [255, 255, 255]


def test_animated_gif_uses_the_first_frame():
    frames = [Image.new("RGB", (16, 16), c) for c in ((255, 0, 0), (0, 255, 0))]
    buf = io.BytesIO()
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:])
    out = load_image(buf.getvalue())
    assert out[0, 0, 0] > 200 and out[0, 0, 1] < 50


def test_bad_inputs_give_clear_messages(tmp_path, rgb):
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    with pytest.raises(InputError, match="empty"):
        load_image(empty)
    text = tmp_path / "notes.jpg"
    text.write_text("hello, I am not a picture")
    with pytest.raises(InputError, match="not an image"):
        load_image(text)
    truncated = tmp_path / "cut.jpg"
    truncated.write_bytes(_save(rgb, "JPEG")[:2000])
    with pytest.raises(InputError, match="damaged or truncated"):
        load_image(truncated)
    with pytest.raises(InputError, match="not found"):
        load_image(tmp_path / "missing.png")


def test_decompression_bomb_is_refused_before_decoding(tmp_path):
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 30000, 30000, 8, 2, 0, 0, 0)
    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 100))
           + chunk(b"IEND", b""))
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(png)
    with pytest.raises(InputError, match="limit|too large"):
        load_image(bomb)


def _png_header_only(path, side: int) -> None:
    """A PNG whose header claims side x side pixels (the data is a stub: it must never be decoded)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 100))
                     + chunk(b"IEND", b""))


def test_the_projects_pixel_limit_speaks_before_pillows_and_can_be_raised(tmp_path):
    from PIL import Image

    big = tmp_path / "big.png"
    _png_header_only(big, 12_000)  # 144 MP: over Pillow's own 89 MP warning level
    with pytest.raises(InputError, match="limit of 50,000,000 pixels"):
        load_image(big)
    # raised above 144 MP, the project's limit lets the header through: the stub data then fails as damaged
    with pytest.raises(InputError, match="damaged or truncated"):
        load_image(big, max_pixels=200_000_000)
    assert Image.MAX_IMAGE_PIXELS == 89_478_485  # Pillow's own limit is restored for everyone else
