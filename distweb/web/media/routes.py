"""Uploaded material images, served only to signed-in managers and promoters of the brand."""

from __future__ import annotations

from flask import Blueprint, abort, send_file
from flask_login import current_user, login_required

from distweb.models.user import Role
from distweb.services import materials
from distweb.services.errors import NotFound

bp = Blueprint("media", __name__, url_prefix="/media")


@bp.get("/avatars/<int:user_id>")
@login_required
def avatar(user_id: int):
    """A user's profile picture, for signed-in users of the same brand."""
    from pathlib import Path

    from flask import current_app

    from distweb.extensions import db
    from distweb.models import User

    user = db.session.get(User, user_id)
    if user is None or user.brand_id != current_user.brand_id or not user.avatar_file:
        abort(404)
    path = Path(current_app.config["DISTWEB_UPLOADS"]) / user.avatar_file
    if not path.is_file():
        abort(404)
    response = send_file(path, mimetype="image/jpeg", max_age=0, conditional=True, etag=True)
    response.cache_control.private = True
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@bp.get("/materials/<int:image_id>/<any(thumb, full):variant>")
@login_required
def material_image(image_id: int, variant: str):
    if current_user.role not in (Role.MANAGER, Role.PROMOTER):
        abort(404)
    try:
        # Managers see the whole library; promoters only what is live (an embargoed launch
        # must not leak through its pictures' URLs).
        image = materials.image_for_user(current_user.brand_id, image_id,
                                         live_only=current_user.role != Role.MANAGER)
    except NotFound:
        abort(404)
    key = image.thumb_key if variant == "thumb" else image.file_key
    path = materials.media_dir() / key
    if not path.is_file():
        abort(404)
    # File names are random and a new upload gets a new id: safe to cache for good, privately.
    response = send_file(path, mimetype="image/webp" if variant == "thumb" else image.content_type,
                         max_age=365 * 86400, conditional=True)
    response.cache_control.private = True
    response.cache_control.public = False
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response
