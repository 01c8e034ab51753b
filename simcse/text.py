"""Splitting text into lines, as inference (``simcse.tool``) and training data (``simcse.training.data``) read it."""
from __future__ import annotations


def split_line_ends(text: str) -> list[str]:
    """Lines split at \\n, \\r\\n or \\r only (``str.splitlines`` also splits at U+2028, U+0085, \\f ...,
    which may occur inside a sentence); a final line break does not start another line."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return lines
