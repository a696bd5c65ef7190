"""Text from a submission, made safe to print or render.

A submission controls much of what the grader says about it: file names, grade ids of
cells it added, what its code wrote to stderr, exception messages. Printed raw, an ANSI
escape sequence in any of them can clear the instructor's terminal, move the cursor or
recolour the lines that follow, and a bidi override (U+202E) can make text read
differently from what it is. :func:`printable` writes every such character as a visible
escape (``\\x1b``, ``\\u202e``); the grader applies it to each line it prints, to the
records it keeps and to the text of its HTML pages (HTML-escaped as well).

Notebook outputs are left alone: IPython's colours in tracebacks are rendered by nbconvert.
"""

from __future__ import annotations

import re

# C0 controls (but tab and newline, handled below), DEL, C1 controls; bidi embeddings,
# overrides and isolates (U+202A-202E, U+2066-2069) and marks (U+200E, U+200F, U+061C);
# the Unicode line and paragraph separators, which some programs treat as line breaks.
_UNSAFE = r"\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069"
_ONE_LINE = re.compile(rf"[\t\n{_UNSAFE}]")
_MULTI_LINE = re.compile(rf"[{_UNSAFE}]")


_NAMED = {"\n": "\\n", "\t": "\\t", "\r": "\\r"}


def _escaped(match: re.Match) -> str:
    char = match.group()
    if char in _NAMED:
        return _NAMED[char]
    return f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}"


def printable(text, multiline: bool = False) -> str:
    """``text`` with its control characters written as escapes.

    Tab and newline stay when ``multiline`` (a traceback, a log); in a one-line context
    (a flag, a failure, a line of the summary) they are escaped too, so the line stays one
    line. Applying it twice changes nothing more."""
    text = text if isinstance(text, str) else str(text)
    return (_MULTI_LINE if multiline else _ONE_LINE).sub(_escaped, text)
