"""Jinja settings that make every page cheaper to render, with the same output."""

from __future__ import annotations

from types import FunctionType, MethodType

from flask.globals import _cv_request
from flask.templating import Environment
from jinja2 import nodes
from jinja2.compiler import CodeGenerator
from jinja2.ext import Extension
from jinja2.runtime import Context
from jinja2.utils import _PassArg

# The url_for keywords that change more than the path (an anchor, a method, an external URL).
_URL_FOR_OPTIONS = frozenset(("_anchor", "_method", "_scheme", "_external"))
_URL_CACHE_SIZE = 4096


_PLAIN = object()  # a callable that takes no context, eval context or environment
_EVAL_CONTEXT = object()  # one that takes the eval context first (the templates' _() and ngettext())
_PASS_KINDS_SIZE = 4096


class FastCallContext(Context):
    """Jinja's Context, with the check of what a called function wants passed (context, eval
    context, environment or nothing) remembered per function: every call in a template goes
    through here, and for plain functions (url_for, the labels, filters called as functions)
    the check was most of the call's cost."""

    _pass_kinds: dict = {}

    def call(__self, __obj, *args, **kwargs):  # noqa: N805 — Jinja's own signature
        kind_key = __obj if type(__obj) is FunctionType else __obj.__func__ if type(__obj) is MethodType else None
        kind = __self._pass_kinds.get(kind_key) if kind_key is not None else None
        if kind is _PLAIN or kind is _EVAL_CONTEXT:
            kwargs.pop("_block_vars", None)
            kwargs.pop("_loop_vars", None)
            try:
                return __obj(*args, **kwargs) if kind is _PLAIN else __obj(__self.eval_ctx, *args, **kwargs)
            except StopIteration:
                return __self.environment.undefined("value was undefined because a callable raised a"
                                                    " StopIteration exception")
        # Only functions are remembered (for a bound method, its function): they live as long as
        # the app. Macros and other callables are made per render and would keep its data alive.
        if kind is None and kind_key is not None:
            passed = _PassArg.from_obj(__obj)
            if hasattr(__obj, "__call__") and _PassArg.from_obj(__obj.__call__) is not None:  # noqa: B004
                passed = False  # a callable object that wants something: Jinja's way
            if len(__self._pass_kinds) >= _PASS_KINDS_SIZE:
                __self._pass_kinds.clear()
            __self._pass_kinds[kind_key] = {None: _PLAIN, _PassArg.eval_context: _EVAL_CONTEXT}.get(passed, False)
        return Context.call(__self, __obj, *args, **kwargs)


class DistwebEnvironment(Environment):
    """Flask's template environment, with each template's globals as one plain dict.

    Every render and every {% include %} copies the template's globals into a new context.
    Jinja keeps them as a ChainMap over the environment's globals, and copying a ChainMap
    calls a Python-level lookup for each of the ~45 names (a tenth of a small page's render).
    The globals are all set while the app is created, before any template loads (Jinja asks
    for that: "avoid modifying any globals after a template is loaded"), so one merged dict
    made when a template loads holds the same names."""

    context_class = FastCallContext

    def make_globals(self, d):
        return {**self.globals, **d} if d else dict(self.globals)


class JoinedBlocksCodeGenerator(CodeGenerator):
    """Jinja passes a block's output up with ``yield from``, so every piece of a page (each
    literal and each ``{{ … }}``) resumes one generator per level it goes through: the page's
    content block, the promoter layout's body block and the roots of the page, the layout and
    base.html, five resumptions for each of some 350 pieces. Here each block and each parent
    template is rendered with one ``concat`` and passed up as one string: the same text, each
    piece resumed once."""

    def writeline(self, x: str, node=None, extra: int = 0) -> None:
        if x.startswith("yield from ") and not self.environment.is_async:
            x = f"yield environment.concat({x[len('yield from '):]})"
        super().writeline(x, node, extra)


def cached_url_for(app):
    """``url_for`` for templates that remembers the URLs it built: a page asks for the same few
    dozen (tabs, static files, the brand's icons), and building one through Flask and the
    URL map costs some thirty Python calls. A URL depends only on the endpoint, its values
    and how the request reached the app (script root, host, scheme), which is the key.
    Anything unusual (relative endpoints, url_defaults, anchors, external URLs) takes the
    normal path."""
    build = app.url_for
    cache: dict = {}

    def url_for(endpoint: str, /, **values) -> str:
        ctx = _cv_request.get(None)  # the request context, read directly (not through the proxy)
        if ctx is None or endpoint[:1] == "." or app.url_default_functions \
                or not _URL_FOR_OPTIONS.isdisjoint(values):
            return build(endpoint, **values)
        adapter = ctx.url_adapter
        try:
            key = (endpoint, *values.items(), adapter.script_name, adapter.server_name, adapter.subdomain,
                   adapter.url_scheme)
            url = cache.get(key)
        except TypeError:  # a value that cannot be a key (a list for ?a=1&a=2)
            return build(endpoint, **values)
        if url is None:
            url = build(endpoint, **values)
            if len(cache) >= _URL_CACHE_SIZE:  # ids in URLs: keep it bounded
                cache.clear()
            cache[key] = url
        return url

    return url_for


_FRAGMENT_CACHE_SIZE = 1024  # fragments kept per {% cache %} tag


class FragmentCache(Extension):
    """``{% cache key, ... %}…{% endcache %}``: the enclosed markup is rendered once per
    process for each language and each combination of the keys given, then reused.

    For the parts of a page that are the same for every user: the <head>, the tab bar, fixed
    cards; and for markup that is a function of rows the page read (the home's latest
    orders, keyed by the rows). A page's shell is most of its markup, and rendering it
    (translations, URLs, escaping) cost more than the page's queries. The language and the
    app's script root are always part of the key (the time zone is the app's, fixed);
    everything else the fragment reads must be in its keys (the brand's version for its name,
    colour and logo; the active tab). Nothing about the user, the session (no csrf_token()) or
    the request's URL may be inside one unless it is a key. Each tag keeps its own fragments,
    so one keyed by rows, with many keys, never pushes the shell's out. With templates
    auto-reloading (development) nothing is cached."""

    tags = {"cache"}

    def __init__(self, environment):
        super().__init__(environment)
        self._sites: dict = {}  # (template name, line) -> {(keys, language, script root): markup}

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        site = nodes.Const((parser.name, lineno))
        keys = []
        while parser.stream.current.type != "block_end":
            if keys:
                parser.stream.expect("comma")
            keys.append(parser.parse_expression())
        body = parser.parse_statements(("name:endcache",), drop_needle=True)
        return nodes.CallBlock(self.call_method("_fragment", [site, nodes.Tuple(keys, "load")]), [], [], body) \
            .set_lineno(lineno)

    def _fragment(self, site: tuple, keys: tuple, caller):
        if self.environment.auto_reload:
            return caller()
        from distweb.i18n import current_locale_name

        cache = self._sites.get(site)
        if cache is None:
            cache = self._sites[site] = {}
        ctx = _cv_request.get(None)
        key = (keys, current_locale_name(), ctx.request.script_root if ctx is not None else "")
        try:
            return cache[key]
        except KeyError:
            pass
        except TypeError:  # a list of rows as a key: the same rows as a tuple
            key = (tuple(tuple(k) if isinstance(k, list) else k for k in keys), *key[1:])
            try:
                hit = cache.get(key)
            except TypeError:  # still unhashable: render it every time
                return caller()
            if hit is not None:
                return hit
        markup = caller()
        if len(cache) >= _FRAGMENT_CACHE_SIZE:  # the oldest out (dicts keep insertion order)
            try:
                del cache[next(iter(cache))]
            except (KeyError, RuntimeError, StopIteration):  # another thread was evicting too
                pass
        cache[key] = markup
        return markup

    def clear(self) -> None:
        self._sites.clear()


def init_app(app) -> None:
    """Before any template is compiled."""
    app.jinja_env.code_generator_class = JoinedBlocksCodeGenerator
    app.jinja_env.add_extension(FragmentCache)
    app.jinja_env.globals["url_for"] = cached_url_for(app)
