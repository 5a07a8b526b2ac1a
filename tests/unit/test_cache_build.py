"""Kept pages and figures are namespaced by the code's build: a release that changes a
template, a static file, a catalogue or the Python that computes them never finds what the
previous release kept (a cached <head> linked the old stylesheet after a deploy)."""

from __future__ import annotations

from distweb.caching import build_id


def _tree(root, files: dict[str, bytes]) -> None:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)


def test_the_build_changes_with_every_kind_of_source_and_only_with_them(tmp_path):
    _tree(tmp_path, {"templates/layouts/_head.html": b"<link href=a.css>", "static/css/app.css": b"a{}",
                     "distweb/services/reports.py": b"X = 1", "distweb/translations/en/LC_MESSAGES/m.mo": b"mo",
                     "worker/jobs.py": b"", "README.md": b"readme"})
    first = build_id(tmp_path)
    assert build_id(tmp_path) == first
    (tmp_path / "README.md").write_bytes(b"changed")  # not a source of pages
    (tmp_path / "distweb/services/__pycache__").mkdir()
    (tmp_path / "distweb/services/__pycache__/reports.cpython-311.pyc").write_bytes(b"x")
    assert build_id(tmp_path) == first
    seen = {first}
    for name in ("templates/layouts/_head.html", "static/css/app.css", "distweb/services/reports.py",
                 "distweb/translations/en/LC_MESSAGES/m.mo", "worker/jobs.py"):
        path = tmp_path / name
        path.write_bytes(path.read_bytes() + b" ")
        now = build_id(tmp_path)
        assert now not in seen, name
        seen.add(now)


def test_the_apps_cache_keys_carry_the_build(app):
    import re

    build = app.config["DISTWEB_BUILD"]  # the sources' digest when the app was made
    assert re.fullmatch(r"[0-9a-f]{16}", build)
    assert app.config["CACHE_KEY_PREFIX"] == f"distweb:cache:{build}:"
