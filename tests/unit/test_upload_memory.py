"""What an upload costs in memory: bounded by what is kept, not by what the file's header
claims. Each case runs in a fresh interpreter and reads how far its peak resident size
(VmHWM) rises above where it stood before one call: Pillow allocates pixels outside Python's
allocator, where tracemalloc cannot see them, and the peak is reset first (importing the app
peaks higher than a small upload does)."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from tests.support import images

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="reads Linux's /proc/self")

ROOT = Path(__file__).resolve().parents[2]
MEASURE = r"""
import io, json, re, sys
from pathlib import Path
from PIL import Image
from distweb.services import images, materials
from distweb.services.errors import ServiceError

read = {"avatar": images.read_avatar, "material": materials.decode_picture}[sys.argv[1]]
data = Path(sys.argv[2]).read_bytes()
for fmt in ("PNG", "JPEG"):  # load the codecs before measuring
    warm = io.BytesIO()
    Image.new("RGB", (300, 300)).save(warm, fmt)
    read(warm.getvalue())


def peak_kib():
    return int(re.search(r"VmHWM:\s+(\d+) kB", Path("/proc/self/status").read_text())[1])


Path("/proc/self/clear_refs").write_text("5")  # the peak starts again from the current size
before = peak_kib()
try:
    read(data)
    outcome = "accepted"
except ServiceError as err:
    outcome = str(err.message)
print(json.dumps({"outcome": outcome, "peak_growth_mb": (peak_kib() - before) / 1024}))
"""


def measure(kind: str, data: bytes, tmp_path: Path) -> dict:
    path = tmp_path / "upload"
    path.write_bytes(data)
    done = subprocess.run([sys.executable, "-c", MEASURE, kind, str(path)], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_small_png_claiming_6300x6300_is_refused_as_an_avatar_before_any_pixel_is_decoded(tmp_path):
    data = images.png_flat(6300, 6300)
    assert len(data) < 200_000  # the size of the file in the security report
    result = measure("avatar", data, tmp_path)
    assert result["outcome"] == "图片尺寸过大：宽和高都不能超过 4096 像素。"
    assert result["peak_growth_mb"] < 10  # it used to decode: 450 MB and more


def test_the_same_png_is_refused_as_a_material_picture_without_decoding(tmp_path):
    result = measure("material", images.png_flat(6300, 6300), tmp_path)
    assert result["outcome"] == "图片尺寸过大：宽和高都不能超过 8000 像素，总像素不能超过 24 百万。"
    assert result["peak_growth_mb"] < 10


def test_an_accepted_4096_png_avatar_costs_one_decoded_canvas_and_no_copies_of_it(tmp_path):
    result = measure("avatar", images.png_flat(4096, 4096), tmp_path)
    assert result["outcome"] == "accepted"
    assert result["peak_growth_mb"] < 80  # the canvas is 64 MB (4 bytes a pixel); copies made it 200+


def test_a_large_jpeg_is_decoded_at_a_reduced_scale(tmp_path):
    photo = io.BytesIO()
    Image.new("RGB", (6000, 4000), (180, 90, 30)).save(photo, "JPEG")
    result = measure("material", photo.getvalue(), tmp_path)
    assert result["outcome"] == "accepted"
    assert result["peak_growth_mb"] < 60  # at full scale the canvas alone is 96 MB
