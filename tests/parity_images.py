"""50 fixed images for the private page's parity test, made at test time from public-domain photos inside
scikit-image (the NASA astronaut portrait, the cameraman, and faceless scenes) and this project's own examples:
scaled, cropped, rotated, recompressed, tiled into groups, with and without EXIF orientation and transparency."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageEnhance, ImageFilter

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "assets" / "examples"


def _save(img: Image.Image, path: Path, **kw) -> Path:
    img.save(path, **kw)
    return path


def _grid(tile: Image.Image, rows: int, cols: int, side: int, gap: int = 0) -> Image.Image:
    canvas = Image.new("RGB", (cols * side + (cols + 1) * gap, rows * side + (rows + 1) * gap), (235, 235, 230))
    small = tile.resize((side, side), Image.LANCZOS)
    for r in range(rows):
        for c in range(cols):
            canvas.paste(small.transpose(Image.FLIP_LEFT_RIGHT) if (r + c) % 2 else small,
                         (gap + c * (side + gap), gap + r * (side + gap)))
    return canvas


def make(folder: Path) -> list[Path]:
    """Write the 50 images into ``folder``; returns their paths in a fixed order."""
    from skimage import data

    folder.mkdir(parents=True, exist_ok=True)
    astro = Image.fromarray(data.astronaut())
    camera = Image.fromarray(data.camera()).convert("RGB")
    rng = np.random.default_rng(7)
    out: list[Path] = []

    def add(name: str, img: Image.Image, fmt: str = "png", **kw) -> None:
        path = folder / f"{len(out):02d}-{name}.{fmt}"
        if fmt == "jpg":
            kw.setdefault("quality", 92)
        out.append(_save(img, path, **kw))

    add("astronaut", astro)
    add("astronaut-q95", astro, "jpg", quality=95)
    for q in (30, 60):
        add(f"astronaut-q{q}", astro, "jpg", quality=q)
    for scale in (0.35, 0.5, 0.75, 1.3, 1.6, 2.2):  # small faces (bilinear crops) to tiled large images
        side = int(512 * scale)
        add(f"astronaut-x{scale}", astro.resize((side, side), Image.LANCZOS), "jpg")
    add("astronaut-mirror", astro.transpose(Image.FLIP_LEFT_RIGHT))
    for angle in (-12, -5, 7, 14):
        add(f"astronaut-rot{angle}", astro.rotate(angle, resample=Image.BICUBIC, fillcolor=(20, 20, 20)), "jpg")
    for factor in (0.6, 1.4):
        add(f"astronaut-bright{factor}", ImageEnhance.Brightness(astro).enhance(factor), "jpg")
    add("astronaut-contrast", ImageEnhance.Contrast(astro).enhance(1.5))
    add("astronaut-blur", astro.filter(ImageFilter.GaussianBlur(2.0)))
    add("astronaut-sharp", astro.filter(ImageFilter.UnsharpMask(3, 150)), "jpg")
    add("astronaut-gray", astro.convert("L").convert("RGB"), "jpg")
    noisy = np.clip(np.asarray(astro, np.int16) + rng.normal(0, 12, (512, 512, 3)), 0, 255).astype(np.uint8)
    add("astronaut-noise", Image.fromarray(noisy))
    for i, (x0, y0, side) in enumerate([(100, 0, 300), (150, 40, 160), (120, 20, 220), (60, 0, 400)]):
        add(f"astronaut-crop{i}", astro.crop((x0, y0, x0 + side, y0 + side)), "jpg")
    add("astronaut-wide", astro.crop((0, 0, 512, 300)))  # a face near the top edge, padded crop
    add("astronaut-tall", astro.crop((130, 0, 330, 512)), "jpg")
    add("astronaut-edge", astro.crop((200, 40, 512, 352)))  # the face cut by the left border
    canvas = Image.new("RGB", (1400, 900), (90, 110, 130))
    canvas.paste(astro.resize((260, 260)), (900, 120))
    add("small-in-scene", canvas, "jpg")
    add("group-2x2", _grid(astro, 2, 2, 300, 10), "jpg")
    add("group-3x3", _grid(astro, 3, 3, 230, 12), "jpg")
    add("group-4x5", _grid(astro, 4, 5, 180, 8), "jpg")
    add("group-1x4", _grid(astro, 1, 4, 256, 6))
    add("group-2x6-small", _grid(astro, 2, 6, 140, 20), "jpg")
    add("cameraman", camera, "jpg")
    add("cameraman-x2", camera.resize((1024, 1024), Image.BICUBIC), "jpg")
    rgba = astro.convert("RGBA")
    alpha = np.full((512, 512), 255, np.uint8)
    alpha[:, :60] = 0
    alpha[:40, :] = 90
    rgba.putalpha(Image.fromarray(alpha))
    add("astronaut-alpha", rgba)
    palette = astro.convert("P", palette=Image.ADAPTIVE, colors=64)
    add("astronaut-palette", palette)
    add("astronaut-webp", astro, "webp", quality=85)
    # EXIF orientation 6 (rotate 90 CW to view): stored sideways, shown upright by both readers
    exif = Image.Exif()
    exif[0x0112] = 6
    add("astronaut-exif6", astro.transpose(Image.ROTATE_90), "jpg", exif=exif.tobytes())
    exif[0x0112] = 3
    add("astronaut-exif3", astro.transpose(Image.ROTATE_180), "jpg", exif=exif.tobytes())
    for name in ("coffee", "chelsea", "rocket"):  # no human face: both sides must find none
        add(name, Image.fromarray(getattr(data, name)()), "jpg")
    for path in sorted(EXAMPLES.glob("astronaut-*")):
        if path.suffix.lower() in (".jpg", ".png"):
            img = Image.open(path).convert("RGB")
            add(path.stem, img, "png")
            add(f"{path.stem}-x0.6", img.resize((307, 307), Image.LANCZOS), "jpg")
    while len(out) < 50:  # group photos with faces of mixed sizes until there are 50
        k = len(out)
        canvas = Image.new("RGB", (1200, 800), tuple(int(v) for v in rng.integers(40, 200, 3)))
        for j in range(3):
            side = int(rng.integers(110, 300))
            canvas.paste(astro.resize((side, side), Image.LANCZOS), (int(rng.integers(0, 1200 - side)),
                                                                     int(rng.integers(0, 800 - side))))
        add(f"mixed{k}", canvas, "jpg")
    return out[:50]


if __name__ == "__main__":
    import sys

    paths = make(Path(sys.argv[1]))
    print(len(paths), "images")
