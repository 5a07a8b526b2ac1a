"""Static files: fingerprinted, precompressed (Brotli and gzip), served by WhiteNoise.

At start the app copies ``static/`` into ``<instance>/static/``: each file under its own name
and under a name carrying a hash of its content (``css/app.css`` → ``css/app.3f2a9c1b04de.css``),
with ``manifest.json`` mapping one to the other; WhiteNoise's ``Compressor`` writes ``.br`` and
``.gz`` beside every file worth compressing. Nothing is rebuilt when the sources have not
changed, so every process (gunicorn workers, the worker, each test app) may call it.

WhiteNoise wraps the WSGI app and answers ``/static/…`` from that folder before Flask sees
the request: the smallest variant the browser accepts (``Vary: Accept-Encoding``), ETag and
Last-Modified with 304s, a year and ``immutable`` for fingerprinted names, a minute for plain
ones. A name it does not know (a fingerprint from another build) falls through to Flask's own
static route, which answers 404. ``url_for('static', filename='css/app.css')`` gives the
fingerprinted URL (an ``url_defaults`` hook), so templates need no change.

Generated files live under the instance folder, never in git.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
import time
from pathlib import Path, PurePosixPath

from whitenoise import WhiteNoise
from whitenoise.compress import Compressor

from distweb.web.security import CSP

MANIFEST = "manifest.json"
COMPRESSED = (".br", ".gz")  # the variants WhiteNoise's Compressor writes and serves
DIGEST_LENGTH = 12
# A fingerprinted name: ``app.3f2a9c1b04de.css`` (or ``name.3f2a9c1b04de`` with no suffix).
FINGERPRINTED = re.compile(rf"\.[0-9a-f]{{{DIGEST_LENGTH}}}(\.[^./]+)?$")
IMMUTABLE = "public, max-age=31536000, immutable"
PLAIN_MAX_AGE = 60  # seconds, for names without a fingerprint (revalidated with ETag after that)
STAGING_PREFIX = ".static-build-"
STAGING_ABANDONED_AFTER = 600  # seconds


def fingerprinted_name(name: str, digest: str) -> str:
    path = PurePosixPath(name)
    return str(path.with_name(f"{path.stem}.{digest}{path.suffix}"))


def source_manifest(source: Path) -> dict[str, str]:
    """Every file under ``source`` (dot-files aside) → its fingerprinted name."""
    files = {}
    for path in sorted(source.rglob("*")):
        if not path.is_file() or any(part.startswith(".") for part in path.relative_to(source).parts):
            continue
        name = path.relative_to(source).as_posix()
        digest = hashlib.sha256(path.read_bytes()).hexdigest()[:DIGEST_LENGTH]
        files[name] = fingerprinted_name(name, digest)
    return files


def read_manifest(target: Path) -> dict[str, str]:
    try:
        return json.loads((target / MANIFEST).read_text())["files"]
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def build(source: Path, target: Path) -> dict[str, str]:
    """Fingerprint and compress ``source`` into ``target``; returns the manifest.

    Does nothing when ``target`` already holds this build. Files are moved into place one by
    one (``os.replace``), so a server reading the folder never sees half a file; two
    processes building at once write the same bytes. The previous build's fingerprinted
    files are kept (a page or service worker from before a deploy still loads them); older
    ones are removed."""
    files = source_manifest(source)
    previous = read_manifest(target)
    if previous == files and all((target / name).is_file() for name in (*files, *files.values())):
        return files

    target.mkdir(parents=True, exist_ok=True)
    # Staged beside the served folder (same file system, so os.replace is atomic; never
    # listed by WhiteNoise).
    _remove_abandoned_staging(target.parent)
    staging = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=target.parent))
    try:
        for name, hashed in files.items():
            for out in (name, hashed):
                dest = staging / out
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source / name, dest)
        compressor = Compressor(quiet=True)
        for path in sorted(staging.rglob("*")):
            if path.is_file() and compressor.should_compress(path.name):
                compressor.compress(str(path))
        # Compressed variants first, then the files they belong to.
        staged = sorted((p for p in staging.rglob("*") if p.is_file()), key=lambda p: p.suffix not in COMPRESSED)
        for path in staged:
            dest = target / path.relative_to(staging)
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.replace(path, dest)
            if path.suffix not in COMPRESSED:
                # A plain name whose new content is not worth compressing must not keep the
                # old content's variants.
                for suffix in COMPRESSED:
                    if path.with_name(path.name + suffix) not in staged:
                        dest.with_name(dest.name + suffix).unlink(missing_ok=True)
        _prune(target, keep={*files, *files.values(), *previous.values()})
        manifest = staging / MANIFEST
        manifest.write_text(json.dumps({"files": files}, indent=1, sort_keys=True))
        os.replace(manifest, target / MANIFEST)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return files


def _remove_abandoned_staging(folder: Path) -> None:
    """A build killed half-way leaves its staging folder behind; another build may be using
    a young one."""
    cutoff = time.time() - STAGING_ABANDONED_AFTER
    for path in folder.glob(STAGING_PREFIX + "*"):
        try:
            if path.stat().st_mtime < cutoff:
                shutil.rmtree(path, ignore_errors=True)
        except OSError:
            pass


def _prune(target: Path, keep: set[str]) -> None:
    """Remove what no current or previous build names (and their compressed variants)."""
    for path in target.rglob("*"):
        rel = path.relative_to(target)
        if not path.is_file() or rel.as_posix() == MANIFEST:
            continue
        name = rel.as_posix()
        if name.endswith(COMPRESSED) and name[:-3] in keep:
            continue
        if name not in keep:
            path.unlink(missing_ok=True)


class StaticFiles:
    """The built folder, its manifest and the WhiteNoise that serves it, for one app."""

    def __init__(self, app):
        self.source = Path(app.static_folder)
        self.target = Path(app.config["INSTANCE_PATH"]) / "static"
        self.prefix = app.static_url_path
        self.files: dict[str, str] = build(self.source, self.target)
        self.hsts = bool(app.config.get("SESSION_COOKIE_SECURE"))
        self.whitenoise = WhiteNoise(
            app.wsgi_app,
            root=self.target,
            prefix=self.prefix,
            # Development re-reads the folder on each request (WhiteNoise's own mode for it).
            autorefresh=app.debug,
            max_age=PLAIN_MAX_AGE,
            allow_all_origins=False,  # same-origin only, as before
            add_headers_function=self.add_headers,
        )

    def url_name(self, filename: str) -> str:
        return self.files.get(filename, filename)

    def add_headers(self, headers, path: str, url: str) -> None:
        """Called once per file: its cache lifetime and the headers every response carries
        (the static responses never reach Flask's after_request)."""
        if FINGERPRINTED.search(url):
            headers["Cache-Control"] = IMMUTABLE
        headers["Content-Security-Policy"] = CSP
        headers["X-Content-Type-Options"] = "nosniff"
        headers["Referrer-Policy"] = "same-origin"
        if self.hsts:
            headers["Strict-Transport-Security"] = "max-age=31536000"

    def refresh(self) -> None:
        """Development: rebuild when a source file changed, so the next page links the new
        fingerprint."""
        files = build(self.source, self.target)
        if files != self.files:
            self.files = files
            if not self.whitenoise.autorefresh:
                self.whitenoise.add_files(self.target, self.prefix)


def init_app(app) -> None:
    try:
        static = StaticFiles(app)
    except OSError as err:  # e.g. a read-only instance folder: Flask serves static/ as before
        app.logger.warning("static files not built (%s): served without fingerprints or compression", err)
        return
    app.extensions["distweb_static"] = static
    app.wsgi_app = static.whitenoise

    @app.url_defaults
    def fingerprinted_static_url(endpoint: str, values: dict) -> None:
        if endpoint == "static" and "filename" in values:
            values["filename"] = static.url_name(values["filename"])

    @app.before_request
    def rebuild_changed_static_files() -> None:
        if app.debug:
            static.refresh()
