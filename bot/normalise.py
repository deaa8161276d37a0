"""Text normalisation shared by the knowledge index and incoming questions.

NFKC (full width to half width), traditional to simplified, lower case; @mentions, bot
commands, emoji, zero-width, bidi and control characters and punctuation are removed.
"""

from __future__ import annotations

import re
import unicodedata
from functools import cache, lru_cache

# Long messages are cut before any matching so that no input costs more than a few ms.
MAX_QUESTION_CHARS = 200

_COMMAND = re.compile(r"^\s*/[A-Za-z0-9_]+(?:@[A-Za-z0-9_]+)?(?=\s|$)")
_MENTION = re.compile(r"@[A-Za-z0-9_]{3,}")
_SPACES = re.compile(r"\s+")
_TAG = re.compile(r"</?[A-Za-z][^<>]{0,60}>")


@cache
def _converter() -> object:
    import opencc

    return opencc.OpenCC("t2s")


def to_simplified(text: str) -> str:
    """Traditional to simplified Chinese (OpenCC t2s)."""
    return str(_converter().convert(text))  # type: ignore[attr-defined]


def _keep(ch: str) -> str:
    """Map one character to itself, to a space (separators, punctuation) or to nothing."""
    cat = unicodedata.category(ch)
    if cat[0] in "LN":
        return ch
    if cat in ("Cf", "Cc", "Cs", "Co", "Cn", "Mn", "Me", "Sk", "So"):
        # zero-width, bidi and control characters, emoji and their modifiers vanish
        return " " if ch in "\t\n\r\x0b\x0c" else ""
    return " "


class _Table(dict[int, str]):
    """Code point -> replacement, worked out once per character and then looked up in C."""

    def __missing__(self, code: int) -> str:
        self[code] = mapped = _keep(chr(code))
        return mapped


_TABLE = _Table()


def _translate(text: str) -> str:
    return text.translate(_TABLE)


def strip_addressing(text: str) -> str:
    """Drop a leading /command (with or without @botname) and any @mentions."""
    text = _COMMAND.sub(" ", text, count=1)
    return _MENTION.sub(" ", text)


def normalise(text: str) -> str:
    """The form every question and every variant is matched in."""
    text = text[: MAX_QUESTION_CHARS * 4]
    text = unicodedata.normalize("NFKC", text)
    text = strip_addressing(_TAG.sub(" ", text))
    text = to_simplified(text).lower()
    text = _translate(text)
    return _SPACES.sub(" ", text).strip()[:MAX_QUESTION_CHARS]


@lru_cache(maxsize=1 << 18)
def compact(text: str) -> str:
    """Normalised text without spaces between CJK characters (spaces between Latin words stay).
    Remembered: the knowledge's texts are compacted at every load and by several checks."""
    return re.sub(r"(?<=[^a-z0-9]) | (?=[^a-z0-9])", "", normalise(text))
