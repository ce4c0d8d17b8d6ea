"""What a file really is, from its first bytes (names and extensions lie)."""

from __future__ import annotations

from pathlib import Path

_IMAGE_MAGIC = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a", b"BM", b"II*\x00", b"MM\x00*")
_VIDEO_MAGIC = (b"\x1a\x45\xdf\xa3", b"\x00\x00\x01\xba", b"\x00\x00\x01\xb3", b"FLV",
                b"\x30\x26\xb2\x75\x8e\x66\xcf\x11")
_HEIF_BRANDS = (b"heic", b"heix", b"mif1", b"msf1", b"avif", b"heim", b"heis")


def kind_of(path: str | Path) -> str:
    """``"image"``, ``"video"``, ``"empty"`` or ``"unknown"``."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(16)
    except OSError:
        return "unknown"
    if not head:
        return "empty"
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return "image"
    if head.startswith(b"RIFF") and head[8:12] == b"AVI ":
        return "video"
    if head[4:8] == b"ftyp":
        return "image" if head[8:12] in _HEIF_BRANDS else "video"
    if head.startswith(_IMAGE_MAGIC):
        return "image"
    if head.startswith(_VIDEO_MAGIC):
        return "video"
    return "unknown"
