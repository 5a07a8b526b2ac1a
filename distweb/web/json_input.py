"""Every JSON body the app reads is parsed here: the app's JSON provider (what Flask's
``request.get_json`` uses) and, through it, the API's ``json_body`` and the webhook's
raw-body parse.

A body is refused, never half-read, when it nests deeper than ``MAX_DEPTH`` (Python's
parser would otherwise hit its recursion limit: a 500), or when a string in it (a key or a
value) holds what no database column can store: a lone UTF-16 surrogate (``"\\ud800"``
without its pair), or a NUL (PostgreSQL text cannot hold one). Both are rare, so they are
looked for only when the raw text could hold them.
"""

from __future__ import annotations

import re

from flask.json.provider import DefaultJSONProvider
from flask_babel import lazy_gettext as _l

MAX_DEPTH = 64

# An escape of a surrogate (\uD800–\uDFFF) or of NUL: the only ways JSON text can carry them
# (a UTF-8 body cannot encode a surrogate, and a raw NUL is not allowed in a JSON string).
_SUSPECT_ESCAPE = re.compile(r"\\u(?:[dD][89a-fA-F]|0000)")
_SUSPECT_ESCAPE_BYTES = re.compile(rb"\\u(?:[dD][89a-fA-F]|0000)")


class JSONInputError(ValueError):
    """A JSON body refused as a whole: status, code, message and the field it names (a path
    such as ``items[0].sku``, or None). A ValueError, so ``request.get_json`` answers 400."""

    def __init__(self, status: int, code: str, message, field: str | None = None):
        super().__init__(str(message))
        self.status, self.code, self.message, self.field = status, code, message, field


def too_deep() -> JSONInputError:
    return JSONInputError(400, "invalid_json", _l("JSON 嵌套不能超过 %(most)s 层。", most=MAX_DEPTH))


def check(value, raw: str | bytes) -> None:
    """Refuse a parsed body nested deeper than MAX_DEPTH, or holding a string no column can
    store (JSONInputError). ``raw``: the text it was parsed from."""
    if isinstance(raw, str):
        openers = raw.count("[") + raw.count("{")
        suspect = _SUSPECT_ESCAPE.search(raw) is not None
    else:
        openers = raw.count(b"[") + raw.count(b"{")
        suspect = _SUSPECT_ESCAPE_BYTES.search(raw) is not None
    if openers <= MAX_DEPTH and not suspect:
        return  # cannot nest deeper (brackets inside strings only overcount); no suspect escape
    stack = [(value, 1, None)]
    while stack:
        node, depth, path = stack.pop()
        if isinstance(node, dict):
            if depth > MAX_DEPTH:
                raise too_deep()
            if suspect and not all(_storable(key) for key in node):
                # The key itself cannot be echoed back: name the object that holds it.
                raise _invalid_text(path)
            # Reversed onto the stack: the first fault in the document is the one reported.
            stack.extend((item, depth + 1, f"{path}.{key}" if path else key) for key, item in reversed(node.items()))
        elif isinstance(node, list):
            if depth > MAX_DEPTH:
                raise too_deep()
            stack.extend((node[i], depth + 1, f"{path or ''}[{i}]") for i in reversed(range(len(node))))
        elif suspect and isinstance(node, str) and not _storable(node):
            raise _invalid_text(path)


def _storable(text: str) -> bool:
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate
        return False
    return True


def _invalid_text(path: str | None) -> JSONInputError:
    if path is None:
        return JSONInputError(422, "invalid_text", _l("请求体含有无效字符（NUL 或不成对的 UTF-16 代理项）。"))
    return JSONInputError(422, "invalid_text",
                          _l("字段 %(name)s 含有无效字符（NUL 或不成对的 UTF-16 代理项）。", name=path), path)


class JSONProvider(DefaultJSONProvider):
    """Flask's JSON, with every body it reads checked (``check``)."""

    def loads(self, s: str | bytes, **kwargs):
        try:
            value = super().loads(s, **kwargs)
        except RecursionError:
            raise too_deep() from None
        check(value, s)
        return value
