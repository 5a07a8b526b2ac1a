"""The static build: fingerprints follow the content, compressed variants sit beside the
files worth compressing, an unchanged source is not rebuilt, and development picks up an
edited file on the next page."""

from __future__ import annotations

import os
import time

import brotli
from flask import Flask, url_for

from distweb.web import static_files
from distweb.web.static_files import build, read_manifest

CSS = b"body { color: #333; }\n" * 200


def make_source(tmp_path):
    source = tmp_path / "src"
    (source / "css").mkdir(parents=True)
    (source / "icons").mkdir()
    (source / "css" / "app.css").write_bytes(CSS)
    (source / "icons" / "dot.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(200))
    (source / ".hidden").write_bytes(b"not served")
    return source


def test_build_fingerprints_and_compresses(tmp_path):
    source, target = make_source(tmp_path), tmp_path / "out"
    files = build(source, target)
    assert set(files) == {"css/app.css", "icons/dot.png"}
    css = files["css/app.css"]
    assert css.startswith("css/app.") and css.endswith(".css") and len(css) == len("css/app..css") + 12
    assert read_manifest(target) == files
    for name in ("css/app.css", css):
        assert (target / name).read_bytes() == CSS
        assert brotli.decompress((target / f"{name}.br").read_bytes()) == CSS
        assert (target / f"{name}.gz").exists()
    assert (target / files["icons/dot.png"]).exists()
    assert not (target / "icons/dot.png.br").exists()  # images are not compressed again
    assert not (target / ".hidden").exists()


def test_unchanged_source_is_not_rebuilt(tmp_path):
    source, target = make_source(tmp_path), tmp_path / "out"
    files = build(source, target)
    before = {p: p.stat().st_mtime_ns for p in target.rglob("*") if p.is_file()}
    (target / files["css/app.css"]).touch()  # would be replaced by a rebuild
    stamp = (target / files["css/app.css"]).stat().st_mtime_ns
    assert build(source, target) == files
    assert (target / files["css/app.css"]).stat().st_mtime_ns == stamp
    assert set(before) == {p for p in target.rglob("*") if p.is_file()}


def test_a_changed_file_gets_a_new_fingerprint_and_the_previous_one_is_kept(tmp_path):
    source, target = make_source(tmp_path), tmp_path / "out"
    first = build(source, target)["css/app.css"]
    (source / "css" / "app.css").write_bytes(CSS + b"a { color: red; }\n")
    second = build(source, target)["css/app.css"]
    assert second != first
    assert (target / second).read_bytes().endswith(b"red; }\n")
    assert (target / first).read_bytes() == CSS  # pages from before still load theirs
    (source / "css" / "app.css").write_bytes(CSS + b"a { color: blue; }\n")
    third = build(source, target)["css/app.css"]
    assert (target / third).exists() and (target / second).exists()
    assert not (target / first).exists() and not (target / f"{first}.br").exists()  # two back: gone


def test_a_removed_source_file_is_removed_from_the_build(tmp_path):
    source, target = make_source(tmp_path), tmp_path / "out"
    files = build(source, target)
    (source / "icons" / "dot.png").unlink()
    assert "icons/dot.png" not in build(source, target)
    assert not (target / "icons/dot.png").exists()
    assert (target / files["icons/dot.png"]).exists()  # the previous build's, for a while


def test_development_links_and_serves_an_edited_file_on_the_next_page(tmp_path):
    source = make_source(tmp_path)
    app = Flask(__name__, static_folder=str(source))
    app.config.update(INSTANCE_PATH=str(tmp_path / "instance"), TESTING=True)
    app.debug = True
    static_files.init_app(app)

    @app.get("/page")
    def page():
        return url_for("static", filename="css/app.css")

    client = app.test_client()
    first = client.get("/page").get_data(as_text=True)
    with client.get(first) as response:
        assert response.data == CSS
    (source / "css" / "app.css").write_bytes(CSS + b"a { color: red; }\n")
    second = client.get("/page").get_data(as_text=True)
    assert second != first
    with client.get(second, headers={"Accept-Encoding": "br"}) as response:
        assert response.headers["Cache-Control"] == static_files.IMMUTABLE
        assert brotli.decompress(response.data).endswith(b"red; }\n")


def test_no_staging_left_in_or_beside_the_served_folder(tmp_path):
    source, target = make_source(tmp_path), tmp_path / "out"
    build(source, target)
    abandoned, busy = tmp_path / ".static-build-killed", tmp_path / ".static-build-busy"
    abandoned.mkdir()
    busy.mkdir()
    os.utime(abandoned, (time.time() - 3600, time.time() - 3600))
    (source / "css" / "app.css").write_bytes(CSS + b"a { color: red; }\n")
    build(source, target)
    assert not abandoned.exists() and busy.exists()  # another process may be building there
    assert sorted(p.name for p in tmp_path.iterdir()) == [".static-build-busy", "out", "src"]
    assert not [p for p in target.rglob(".*")]


def test_a_plain_name_never_keeps_variants_of_its_old_content(tmp_path):
    source, target = make_source(tmp_path), tmp_path / "out"
    build(source, target)
    assert (target / "css/app.css.br").exists()
    incompressible = os.urandom(4096)  # nothing to gain: no .br, no .gz
    (source / "css" / "app.css").write_bytes(incompressible)
    files = build(source, target)
    assert (target / "css/app.css").read_bytes() == incompressible
    assert not (target / "css/app.css.br").exists() and not (target / "css/app.css.gz").exists()
    assert not (target / f"{files['css/app.css']}.br").exists()
