"""The XML encodings Python's TBX reader accepts, for the Java engine to accept the same ones.

Run from the repository root (the venv active):
    python android-demo/engine/tools/gen_python_codecs.py
runtime/glossary.py reads TBX with expat (through defusedxml). Expat decodes UTF-8, UTF-16, ISO-8859-1 and
US-ASCII itself; for any other name in the XML declaration it asks pyexpat, which looks the name up in
Python's codec registry and decodes the 256 byte values with it (``errors="replace"``): an unknown name is a
LookupError, a codec that does not give 256 characters is a ValueError ("multi-byte encodings are not
supported"), and a byte that decodes to U+FFFD is invalid in the document. Java knows other names (x-MacRoman,
latin-9) and decodes multi-byte encodings (Shift_JIS) that Python refuses, so the engine decodes these
documents itself with Python's tables. It writes
- src/main/resources/org/pocketmt/engine/glossary/python_codecs.txt: Python's aliases (``encodings.aliases``)
  and, per codec module of the ``encodings`` package, what expat does with a document declaring it: its byte
  table (code points in hex, ``-`` for an invalid byte; ``high`` tables map bytes 0-127 to themselves and list
  128-255), or the error, with ``{name}`` where Python repeats the declared name.
- src/test/resources/org/pocketmt/engine/glossary/python_codec_names.txt: declared names (every alias and codec
  in a few spellings, and names Python does not know) with what Python does with them, for the Java test.
"""

from __future__ import annotations

import encodings
import encodings.aliases
import hashlib
import importlib
import pkgutil
import sys
import warnings
from pathlib import Path

from defusedxml import ElementTree

ROOT = Path("android-demo/engine/src")
TABLE = ROOT / "main/resources/org/pocketmt/engine/glossary/python_codecs.txt"
NAMES = ROOT / "test/resources/org/pocketmt/engine/glossary/python_codec_names.txt"
EXPAT_NATIVE = {"UTF-8", "UTF-16", "UTF-16BE", "UTF-16LE", "ISO-8859-1", "US-ASCII"}  # compared ignoring case
DOC = '<?xml version="1.0" encoding="{}"?><a>x</a>'
# how far in the document the declared name starts: expat's position for its "unknown encoding" error
NAME_COLUMN = DOC.index("{")


def parse(name: str) -> str:
    """What expat does with a small ASCII document that declares ``name``: ``ok``, or the error."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # unicode_escape warns about the invalid escapes in its table
            ElementTree.fromstring(DOC.format(name).encode("ascii"))
    except ElementTree.ParseError as exc:
        message = str(exc)
        assert message.endswith(f": line 1, column {NAME_COLUMN}"), message
        return "expat " + message.rsplit(":", 2)[0]  # Java adds the line and column in its document
    except Exception as exc:  # LookupError, ValueError, UnicodeError: pyexpat passes the codec's error on
        return "error " + str(exc)
    return "ok"


def template(outcome: str, name: str) -> str:
    """An error with ``{name}`` where Python repeats the declared name."""
    return outcome.replace(f"'{name}'", "'{name}'").replace(f"encoding: {name}", "encoding: {name}")


def table(name: str) -> list[int]:
    """pyexpat's map: each byte's code point under ``name``, -1 where it decodes to U+FFFD."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        text = bytes(range(256)).decode(name, "replace")
    assert len(text) == 256, name
    return [-1 if ch == "\ufffd" else ord(ch) for ch in text]


def digest(codes: list[int]) -> str:
    return hashlib.sha256(",".join(map(str, codes)).encode()).hexdigest()[:16]


def codec_lines() -> list[str]:
    aliases = encodings.aliases.aliases
    lines = [f"alias {key} {module}" for key, module in sorted(aliases.items())]
    for module in sorted(m.name for m in pkgutil.iter_modules(encodings.__path__)):
        try:
            importlib.import_module("encodings." + module)
        except ImportError:  # mbcs, oem: Windows only; the search goes on as if they did not exist
            continue
        if aliases.get(module, module) != module:
            continue  # iso8859_1 is an alias of latin_1: the search finds that module first
        outcome = parse(module)
        if outcome != "ok":
            lines.append(f"codec {module} {template(outcome, module)}")
            continue
        codes = table(module)
        if codes[:128] == list(range(128)):
            lines.append(f"codec {module} high " + " ".join("-" if c < 0 else f"{c:x}" for c in codes[128:]))
        else:
            lines.append(f"codec {module} full " + " ".join("-" if c < 0 else f"{c:x}" for c in codes))
    return lines


def spellings() -> list[str]:
    base = set(encodings.aliases.aliases) | set(encodings.aliases.aliases.values())
    base |= {m.name for m in pkgutil.iter_modules(encodings.__path__)}
    out = set()
    for name in base:
        if not name[:1].isalpha():
            continue  # expat's EncName starts with a letter
        out |= {name, name.upper(), name.replace("_", "-"), name.replace("_", "--").title(), name + "-"}
    out |= {
        "foo",
        "latin-9",
        "x-MacRoman",
        "iso8859.15",
        "cp-1252-",
        "Shift_JIS",
        "windows-1252",
        "x-user-defined",
        "ISO_8859-1",
        "ISO8859-1",
        "utf-8-sig",
        "UTF-32",
        "MacRoman",
        "hex",
        "HEX",
        "rot13",
        "cp65001",
        "a.b",
    }
    return sorted(n for n in out if n.upper() not in EXPAT_NATIVE)


def main() -> None:
    header = f"# generated by android-demo/engine/tools/gen_python_codecs.py: Python {sys.version.split()[0]}"
    lines = codec_lines()
    TABLE.write_text("\n".join([header, *lines]) + "\n")
    vectors = []
    for name in spellings():
        outcome = parse(name)
        if outcome == "ok":
            outcome = "ok " + digest(table(name))
        vectors.append(f"{name} {outcome}")
    NAMES.write_text("\n".join([header, *vectors]) + "\n")
    codecs_count = sum(line.startswith("codec ") for line in lines)
    print(f"wrote {TABLE} ({codecs_count} codecs) and {NAMES} ({len(vectors)} names)")


if __name__ == "__main__":
    main()
