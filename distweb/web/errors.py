"""Errors in the user's language: a page for browsers, JSON for the API. Never a trace."""

from __future__ import annotations

import logging

from flask import render_template, request
from flask_babel import gettext as _
from flask_limiter.errors import RateLimitExceeded
from flask_wtf.csrf import CSRFError
from redis.exceptions import RedisError
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from werkzeug.exceptions import HTTPException, InternalServerError

from distweb.extensions import db

log = logging.getLogger(__name__)


def _messages() -> dict[int, tuple[str, str]]:
    return {
        400: (_("请求无效"), _("提交的内容无法处理，请返回重试。")),
        401: (_("需要登录"), _("请先登录。")),
        403: (_("没有权限"), _("您没有权限访问这个页面。")),
        404: (_("页面不存在"), _("您要找的页面不存在或已被移除。")),
        405: (_("不支持的操作"), _("这个地址不支持该操作。")),
        410: (_("已下线"), _("这项内容已下线。")),
        413: (_("内容过大"), _("上传或提交的内容超过了大小限制。")),
        422: (_("无法处理"), _("提交的内容有误。")),
        429: (_("操作太频繁"), _("请稍后再试。")),
        500: (_("服务器出错"), _("出了点问题，我们已记录，请稍后再试。")),
        503: (_("服务暂不可用"), _("系统正在维护或繁忙，请稍后再试。")),
    }


CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
         410: "gone", 413: "payload_too_large", 422: "unprocessable", 429: "rate_limited", 500: "internal_error",
         503: "service_unavailable"}


def wants_json() -> bool:
    if request.path.startswith("/api/"):
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json" and request.accept_mimetypes[best] > request.accept_mimetypes["text/html"]


def error_response(status: int, message: str | None = None, code: str | None = None):
    title, default_message = _messages().get(status, _messages()[500])
    message = message or default_message
    if wants_json():
        return {"error": {"code": code or CODES.get(status, "error"), "message": message, "field": None}}, status
    try:
        return render_template("errors/error.html", status=status, title=title, message=message), status
    except Exception:  # noqa: BLE001 — the error page must not fail (e.g. database down)
        log.exception("error page failed to render")
        return f"<!doctype html><meta charset=utf-8><title>{status}</title><h1>{title}</h1><p>{message}</p>", status


def discard_session() -> None:
    """End the request's database session after the database failed under it (a dropped
    connection, a restart): roll back what it had begun, and if even that fails, let the
    session go; the next use starts afresh on a new connection. Never raises: the 503 must
    still be answered."""
    try:
        db.session.rollback()
    except SQLAlchemyError as err:
        log.warning("rollback after a database failure failed: %s", err)
    finally:
        try:
            db.session.remove()
        except SQLAlchemyError as err:
            log.warning("closing the session after a database failure failed: %s", err)


def init_app(app) -> None:
    @app.errorhandler(CSRFError)
    def csrf_error(err):
        return error_response(400, _("页面已过期，请刷新后重试。"), "csrf_failed")

    @app.errorhandler(HTTPException)
    def http_error(err: HTTPException):
        if err.code and err.code < 400:
            return err
        if isinstance(err, RateLimitExceeded) and err.limit.error_message:
            return error_response(429, err.description)  # the limit's own explanation
        return error_response(err.code or 500)

    @app.errorhandler(OperationalError)
    def database_down(err):
        log.error("database unavailable: %s", err)
        discard_session()
        return error_response(503)

    @app.errorhandler(RedisError)
    def redis_down(err):
        log.error("redis unavailable: %s", err)
        return error_response(503)

    @app.errorhandler(InternalServerError)
    def internal(err):
        return error_response(500)
