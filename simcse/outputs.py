"""Checks on an output file a command is about to write (``--output``), made before any work."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable


def output_problem(
    path: str | os.PathLike, overwrite: bool, inputs: Iterable[str | os.PathLike] = (),
    input_name: str = "one of the input files", example: str = "out", flag: str = "--output",
) -> str | None:
    """Why ``--output path`` cannot be written, or None: it is a folder, it is one of ``inputs`` (never
    replaced, even with ``overwrite``; ``input_name`` says which in the message), it exists and
    ``overwrite`` is off, or its nearest existing parent is not a folder. ``flag`` names the option
    in the message."""
    out = Path(path)
    if out.is_dir():
        return (f"{flag} {str(path)!r} is a folder (it is a directory, not a file); give a file name, "
                f"e.g. {str(out / example)!r}")
    if out.exists() and any(Path(f).exists() and out.resolve() == Path(f).resolve() for f in inputs):
        return f"{flag} {str(path)!r} is {input_name}; writing it would replace what is read"
    if out.exists() and not overwrite:
        return f"{flag} {str(path)!r} exists; pass --overwrite to replace it (or choose a new file)"
    parent = out.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        return f"{flag} {str(path)!r}: {str(parent)!r} is not a directory"
    return None
