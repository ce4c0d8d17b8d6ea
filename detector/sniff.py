"""What a file really is, from its first bytes (names and extensions lie)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from .errors import InputError

_IMAGE_MAGIC = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a", b"BM", b"II*\x00", b"MM\x00*")
_VIDEO_MAGIC = (b"\x1a\x45\xdf\xa3", b"\x00\x00\x01\xba", b"\x00\x00\x01\xb3", b"FLV",
                b"\x30\x26\xb2\x75\x8e\x66\xcf\x11")
_HEIF_BRANDS = (b"heic", b"heix", b"mif1", b"msf1", b"avif", b"heim", b"heis")


def check_regular(path: str | Path) -> None:
    """Refuse, by what the file system says and without opening it, anything that is not a regular file: a named
    pipe would block a reader forever, a device such as /dev/zero never ends. The message names the file."""
    name = Path(path).name or str(path)
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise InputError(f"{name}: file not found.") from None
    except PermissionError:
        raise InputError(f"{name}: the file cannot be read (permission denied).") from None
    except OSError as exc:
        raise InputError(f"{name}: the file cannot be read ({exc.strerror or exc}).") from None
    if stat.S_ISREG(mode):
        return
    what = ("a folder" if stat.S_ISDIR(mode) else "a named pipe (FIFO)" if stat.S_ISFIFO(mode)
            else "a socket" if stat.S_ISSOCK(mode) else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
            else "not a regular file")
    raise InputError(f"{name}: this is {what}, not a file; it was not read.")


def kind_of(path: str | Path) -> str:
    """``"image"``, ``"video"``, ``"empty"``, ``"special"`` (a pipe, device, socket or folder: never opened) or
    ``"unknown"``."""
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            return "special"
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
