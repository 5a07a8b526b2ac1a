"""distweb.templating: the same pages, rendered with fewer steps."""

from flask import Flask, url_for
from jinja2 import DictLoader, Environment

from distweb.templating import JoinedBlocksCodeGenerator, cached_url_for

TEMPLATES = {
    "base.html": "<html>{% block head %}<title>{% block title %}base{% endblock %}</title>{% endblock %}"
                 "<body>{% block body %}{% endblock %}{% include 'part.html' %}</body></html>",
    "layout.html": "{% extends 'base.html' %}{% block body %}<nav>{{ nav }}</nav>"
                   "{% block content %}{% endblock %}{% endblock %}",
    "page.html": "{% extends 'layout.html' %}{% block title %}{{ super() }} · {{ name }}{% endblock %}"
                 "{% block content %}{% for x in items %}<i>{{ x }}</i>{% endfor %}{{ self.title() }}"
                 "{% set local = 'kept' %}{{ local }}{% endblock %}",
    "part.html": "<footer>{{ name }}{% include 'leaf.html' %}</footer>",
    "leaf.html": "{% macro m(v) %}[{{ v }}]{% endmacro %}{{ m(name) }}",
}


def test_joined_blocks_render_exactly_what_jinja_renders():
    plain = Environment(loader=DictLoader(TEMPLATES), autoescape=True)
    joined = Environment(loader=DictLoader(TEMPLATES), autoescape=True)
    joined.code_generator_class = JoinedBlocksCodeGenerator
    context = {"name": "<李>", "nav": "n", "items": [1, 2, 3]}
    for name in TEMPLATES:
        assert joined.get_template(name).render(context) == plain.get_template(name).render(context)
    source = joined.compile(TEMPLATES["page.html"], raw=True)
    assert "yield from" not in source and "yield environment.concat(" in source


def test_cached_url_for_gives_flask_urls_and_keys_on_how_the_request_came_in():
    app = Flask(__name__)
    app.add_url_rule("/a/<int:n>", "a", lambda n: "")
    app.add_url_rule("/b", "b", lambda: "")
    cached = cached_url_for(app)
    with app.test_request_context("/"):
        for _ in range(2):  # the second time from the cache
            assert cached("a", n=1) == url_for("a", n=1) == "/a/1"
            assert cached("b", q="x y") == url_for("b", q="x y")
            assert cached("b", _anchor="top") == "/b#top"
            assert cached("b", _external=True) == "http://localhost/b"
            assert cached("b", q=["1", "2"]) == url_for("b", q=["1", "2"])
    with app.test_request_context("/", base_url="https://shop.example/prefix/"):
        assert cached("a", n=1) == "/prefix/a/1"
        assert cached("b", _external=True) == "https://shop.example/prefix/b"
    app.config["SERVER_NAME"] = "distweb.test"
    with app.app_context():
        assert cached("b") == "http://distweb.test/b"  # outside a request: Flask's own rules
