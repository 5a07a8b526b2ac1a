"""The translation catalogues: complete, consistent with the sources, compiled.

File checks only (no app, no services). When one fails, the fix is nearly always
``scripts/i18n update`` (new or changed strings), translating the empty or fuzzy entries of
distweb/translations/en/LC_MESSAGES/messages.po, then ``scripts/i18n compile``.
"""

from __future__ import annotations

import io
import re
import shlex
from collections import Counter
from functools import cache
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog, Message
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_keywords, parse_mapping_cfg
from babel.messages.mofile import read_mo, write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

from distweb.config import DEFAULTS

ROOT = Path(__file__).resolve().parents[2]
TRANSLATIONS = ROOT / "distweb" / "translations"
POT = TRANSLATIONS / "messages.pot"
SCRIPT = ROOT / "scripts" / "i18n"
SOURCE_LOCALE = "zh_Hans_CN"  # msgids are this language: its msgstrs may stay empty
TRANSLATED = ("en",)
LOCALES = (SOURCE_LOCALE, *TRANSLATED)

# Every %-conversion, including %% and a stray % (Jinja's newstyle gettext applies
# `% variables` to each template string, so a stray % in a translation breaks the page).
PLACEHOLDER = re.compile(r"%(?:\([^)]*\))?[#0 +-]*(?:\*|\d+)?(?:\.(?:\*|\d+))?[a-zA-Z%]?")

Key = tuple[str | None, str]


def po_path(locale: str) -> Path:
    return TRANSLATIONS / locale / "LC_MESSAGES" / "messages.po"


@cache
def load_po(path: Path) -> Catalog:
    with open(path, "rb") as fh:
        return read_po(fh)


def key(msgid: str | tuple | list, context: str | None) -> Key:
    """(context, singular msgid): how gettext looks a message up."""
    return (context, msgid if isinstance(msgid, str) else msgid[0])


def live(catalog: Catalog) -> dict[Key, Message]:
    """Messages without the header and obsolete (#~) entries."""
    return {key(m.id, m.context): m for m in catalog if m.id}


def show(keys) -> str:
    return "\n".join(
        f"  [{c}] {i!r}" if c else f"  {i!r}"
        for c, i in sorted(keys, key=lambda k: (k[1], k[0] or ""))
    )


def strings_of(message: Message) -> list[str]:
    return list(message.string) if isinstance(message.string, (list, tuple)) else [message.string]


def ids_of(message: Message) -> list[str]:
    return list(message.id) if isinstance(message.id, (list, tuple)) else [message.id]


def script_keywords() -> list[str]:
    """The -k options scripts/i18n passes to pybabel, so both extract the same way."""
    line = next(ln for ln in SCRIPT.read_text().splitlines() if ln.startswith("KEYWORDS=("))
    words = shlex.split(line[len("KEYWORDS=(") : line.rindex(")")])
    return [words[i + 1] for i, w in enumerate(words) if w == "-k"]


@cache
def extracted() -> dict[Key, list[str]]:
    """What ``pybabel extract`` would find in the sources right now: key -> locations."""
    with open(ROOT / "babel.cfg", encoding="utf-8") as fh:
        method_map, options_map = parse_mapping_cfg(fh, str(ROOT / "babel.cfg"))
    keywords = {**DEFAULT_KEYWORDS, **parse_keywords(script_keywords())}
    found: dict[Key, list[str]] = {}
    for filename, lineno, message, _comments, context in extract_from_dir(
        str(ROOT), method_map, options_map, keywords=keywords
    ):
        found.setdefault(key(message, context), []).append(f"{filename}:{lineno}")
    return found


def test_script_extracts_flask_babel_lazy_forms():
    assert {"_l", "lazy_gettext"} <= {k.split(":")[0] for k in script_keywords()}


def test_every_configured_language_has_a_catalogue():
    assert set(DEFAULTS["LANGUAGES"]) == set(LOCALES)
    for locale in LOCALES:
        assert po_path(locale).is_file(), f"{po_path(locale)} is missing: run scripts/i18n update"
        assert po_path(locale).with_suffix(".mo").is_file(), (
            f"no .mo for {locale}: run scripts/i18n compile"
        )


@pytest.mark.parametrize("locale", TRANSLATED)
def test_every_message_is_translated_and_not_fuzzy(locale):
    messages = live(load_po(po_path(locale)))
    assert messages, f"{po_path(locale)} has no messages"
    untranslated = {k for k, m in messages.items() if not all(strings_of(m))}
    fuzzy = {k for k, m in messages.items() if m.fuzzy} - untranslated
    where = po_path(locale).relative_to(ROOT)
    assert not (untranslated or fuzzy), (
        f"{where}:\nuntranslated:\n{show(untranslated)}\nfuzzy:\n{show(fuzzy)}"
    )


@pytest.mark.parametrize("locale", TRANSLATED)
def test_placeholders_match(locale):
    wrong = []
    for message in live(load_po(po_path(locale))).values():
        ids = ids_of(message)
        for index, string in enumerate(strings_of(message)):
            if not string:
                continue  # reported by the test above
            # msgstr[0] goes with the singular msgid, every other plural form with msgid_plural.
            msgid = ids[min(index, len(ids) - 1)]
            want, got = Counter(PLACEHOLDER.findall(msgid)), Counter(PLACEHOLDER.findall(string))
            if want != got:
                wrong.append(
                    f"  {msgid!r} -> {string!r}: expected {sorted(want.elements())}, got {sorted(got.elements())}"
                )
    assert not wrong, "placeholders differ from the msgid:\n" + "\n".join(wrong)


def mo_contents(fileobj) -> dict:
    return {
        (m.context, m.id if isinstance(m.id, str) else tuple(m.id)): m.string
        for m in read_mo(fileobj)
    }


@pytest.mark.parametrize("locale", LOCALES)
def test_mo_is_compiled_from_the_current_po(locale):
    compiled = io.BytesIO()
    write_mo(compiled, load_po(po_path(locale)))  # as `pybabel compile`: fuzzy entries left out
    compiled.seek(0)
    with open(po_path(locale).with_suffix(".mo"), "rb") as fh:
        committed = mo_contents(fh)
    assert committed == mo_contents(compiled), (
        f"{po_path(locale).with_suffix('.mo').relative_to(ROOT)} is out of date: run scripts/i18n compile"
    )


def test_pot_is_up_to_date_with_the_sources():
    found, pot = extracted(), live(load_po(POT))
    new = found.keys() - pot.keys()
    gone = pot.keys() - found.keys()
    assert not new, (
        "in the sources but not in messages.pot (run scripts/i18n update):\n"
        + "\n".join(f"  {k[1]!r} ({', '.join(found[k])})" for k in sorted(new, key=lambda k: k[1]))
    )
    assert not gone, (
        f"in messages.pot but no longer in the sources (run scripts/i18n update):\n{show(gone)}"
    )


@pytest.mark.parametrize("locale", LOCALES)
def test_catalogue_has_every_extracted_message(locale):
    missing = extracted().keys() - live(load_po(po_path(locale))).keys()
    assert not missing, (
        f"missing from {po_path(locale).relative_to(ROOT)} (run scripts/i18n update):\n{show(missing)}"
    )


def test_catalogues_load_the_way_flask_babel_loads_them():
    """Flask-Babel asks Babel for str(locale) under BABEL_TRANSLATION_DIRECTORIES."""
    assert Path(DEFAULTS["BABEL_TRANSLATION_DIRECTORIES"]) == TRANSLATIONS
    en = Translations.load(str(TRANSLATIONS), ["en"])
    assert isinstance(en, Translations), "no compiled en catalogue found"
    assert en.gettext("登录") == "Log in"
    zh = Translations.load(str(TRANSLATIONS), ["zh_Hans_CN"])
    assert isinstance(zh, Translations), "no compiled zh_Hans_CN catalogue found"
    assert zh.gettext("登录") == "登录"
