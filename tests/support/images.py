"""Pictures for upload tests: real ones, ones with EXIF, and the hostile ones."""

from __future__ import annotations

import functools
import io
import struct
import zlib

from PIL import Image

GPS_IFD = 0x8825


def jpeg_with_exif(size=(1200, 800), colour=(200, 40, 40)) -> bytes:
    """A JPEG carrying a camera make and a GPS position, rotated by its EXIF orientation."""
    image = Image.new("RGB", size, colour)
    exif = Image.Exif()
    exif[0x010F] = "SpyCam"  # Make
    exif[0x0112] = 6  # Orientation: rotate 90° clockwise to show
    exif[GPS_IFD] = {1: "N", 2: (31.0, 14.0, 0.0), 3: "E", 4: (121.0, 28.0, 0.0)}
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif)
    return out.getvalue()


def png(size=(640, 480), colour=(20, 120, 220, 255)) -> bytes:
    out = io.BytesIO()
    Image.new("RGBA", size, colour).save(out, "PNG")
    return out.getvalue()


def webp(size=(500, 500)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (10, 200, 10)).save(out, "WEBP")
    return out.getvalue()


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_bomb(width=20000, height=20000) -> bytes:
    """A valid PNG header claiming a 20000×20000 canvas in under a kilobyte: the decoder
    would need 1.2 GB to open it."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    data = zlib.compress(b"\x00" * 1024)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", data) + _chunk(b"IEND", b"")


SVG_AS_PNG = b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><rect width="9" height="9"/></svg>'
HTML_AS_PNG = b"<!doctype html><html><body><script>alert(document.cookie)</script></body></html>"


def huge_file(megabytes=50) -> bytes:
    """50 MB that start like a JPEG (the size check must come before any decoding)."""
    return b"\xff\xd8\xff\xe0" + b"\x00" * (megabytes * 1024 * 1024)


@functools.cache
def png_flat(width: int, height: int) -> bytes:
    """A real, complete PNG of one colour, however large, built a row at a time: 6300×6300
    comes to about 120 KB on disk and 119 MB once decoded, without the test ever holding
    the pixels."""
    packer = zlib.compressobj(9)
    row = b"\x00" + b"\x80" * (width * 3)  # filter byte, then grey RGB pixels
    parts = [packer.compress(row) for _ in range(height)]
    parts.append(packer.flush())
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", b"".join(parts))
            + _chunk(b"IEND", b""))
