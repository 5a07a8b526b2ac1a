"""distweb — 分销管理系统. ``create_app`` wires configuration, extensions and blueprints."""

from __future__ import annotations

import os
from pathlib import Path

from flask import Flask
from werkzeug.routing import IntegerConverter

from distweb.config import DEFAULTS, PROJECT_ROOT, from_environment


def create_app(config: dict | None = None) -> Flask:
    app = Flask(
        __name__,
        instance_path=str(Path(os.environ.get("DISTWEB_INSTANCE", PROJECT_ROOT / "instance")).resolve()),
        template_folder=str(PROJECT_ROOT / "templates"),
        static_folder=str(PROJECT_ROOT / "static"),
    )
    app.url_map.converters["int"] = BoundedInt
    from distweb.web.json_input import JSONProvider

    app.json = JSONProvider(app)  # every JSON body read is checked (nesting, storable text)
    app.config.update(DEFAULTS)
    app.config.update(from_environment())
    if config:
        app.config.update(config)
    from distweb.services.sms_senders import check_config

    check_config(app.config)  # an SMS provider that cannot work stops the start, with the reason
    Path(app.config["DISTWEB_UPLOADS"]).mkdir(parents=True, exist_ok=True)

    _init_extensions(app)
    _register_blueprints(app)

    from distweb import cli
    from distweb.web import errors, security, static_files

    errors.init_app(app)
    security.init_app(app)
    cli.init_app(app)
    static_files.init_app(app)  # wraps the WSGI app: WhiteNoise answers /static/ first
    return app


MAX_ID = 2**31 - 1


class BoundedInt(IntegerConverter):
    """``<int:…>`` ids that fit the database's INTEGER key columns (32-bit on PostgreSQL); a
    larger number is simply no such page (404), never an overflow deep in the driver."""

    def __init__(self, map, *args, **kwargs):
        kwargs.setdefault("max", MAX_ID)
        super().__init__(map, *args, **kwargs)


# Endpoints that take uploads bigger than MAX_CONTENT_LENGTH (nine pictures of up to 10 MB);
# everything else keeps the small default, so a huge body elsewhere is a 413 at once.
UPLOAD_BODY_LIMITS = {"manage.material_images_add": 9 * 10 * 1024 * 1024 + 1024 * 1024,
                      # a platform's order export of 100,000 rows and more (services/imports.py)
                      "manage.import_upload": 200 * 1024 * 1024 + 1024 * 1024}


def _upload_body_limit() -> None:
    from flask import request

    limit = UPLOAD_BODY_LIMITS.get(request.endpoint or "")
    if limit:
        request.max_content_length = limit


def _init_extensions(app: Flask) -> None:
    from distweb import caching, db_setup, i18n, labels
    from distweb.extensions import babel, csrf, db, htmx, limiter, login_manager, migrate
    from distweb.web import fragments

    db.init_app(app)
    db_setup.init_app(app)
    migrate.init_app(app, db, directory=str(Path(__file__).parent / "migrations"), render_as_batch=True)
    app.before_request(_upload_body_limit)  # before CSRF: its check is what reads the body
    csrf.init_app(app)
    htmx.init_app(app)
    babel.init_app(app, locale_selector=i18n.select_locale, timezone_selector=_brand_timezone)
    i18n.init_app(app)
    labels.init_app(app)
    caching.init_app(app)
    fragments.init_app(app)
    app.config.setdefault("RATELIMIT_SWALLOW_ERRORS", True)
    app.config.setdefault("RATELIMIT_IN_MEMORY_FALLBACK_ENABLED", True)
    limiter.init_app(app)

    from distweb import models  # noqa: F401 — register the tables with SQLAlchemy
    from distweb.web import sessions

    login_manager.init_app(app)
    sessions.init_login_manager(login_manager)
    sessions.init_session_interface(app)


def _brand_timezone() -> str:
    from flask import current_app

    return current_app.config["DISTWEB_TIMEZONE"]


def _register_blueprints(app: Flask) -> None:
    from distweb.web import (
        api,
        auth,
        core,
        join,
        manage,
        media,
        pay,
        promoter,
        pwa,
        shop,
        supplier,
        track,
    )

    for module in (core, auth, join, track, shop, pay, promoter, manage, supplier, media, pwa, api):
        app.register_blueprint(module.bp)
    pwa.routes.init_app(app)
