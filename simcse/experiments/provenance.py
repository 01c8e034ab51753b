"""What a result depends on besides its settings: library versions, the device, and fingerprints of
the model weights and of the data.

``simcse reproduce`` records these in its result file, and ``simcse reproduce --compare`` names the
ones that differ between two files, so that a reproduction gap comes with its likely causes.
"""
from __future__ import annotations

import hashlib
import os
import platform
import subprocess
from pathlib import Path
from typing import Any, Iterable

import torch

from ..version import __version__

MODEL_SUFFIXES = (".safetensors", ".bin", ".json")


def _digest(h: "hashlib._Hash") -> str:
    return h.hexdigest()[:16]


def environment() -> dict[str, Any]:
    """Versions of Python, simcse, torch (and its CUDA), transformers and sentence-transformers; the GPU
    when there is one; the git commit of the simcse source when it is a checkout (``-dirty`` if it has
    uncommitted changes)."""
    env: dict[str, Any] = {"python": platform.python_version(), "simcse": __version__, "torch": torch.__version__}
    if torch.version.cuda:
        env["cuda"] = torch.version.cuda
    if torch.cuda.is_available():
        env["gpu"] = torch.cuda.get_device_name(0)
    for module in ("transformers", "sentence_transformers"):
        try:
            env[module] = __import__(module).__version__
        except ImportError:
            pass
    commit = git_commit(Path(__file__).resolve().parent)
    if commit:
        env["git_commit"] = commit
    return env


def git_commit(folder: str | os.PathLike) -> str | None:
    """The commit checked out at ``folder`` (with ``-dirty`` when tracked files are modified), or None
    when it is not a git checkout or git is not installed."""
    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(folder), *args], capture_output=True, text=True, timeout=10,
                              check=True).stdout.strip()

    try:
        commit = git("rev-parse", "--short=12", "HEAD")
        dirty = git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return None
    return commit + ("-dirty" if dirty else "")


def folder_fingerprint(folder: str | os.PathLike, suffixes: Iterable[str] = MODEL_SUFFIXES) -> str:
    """A content hash of the files in ``folder`` with these suffixes (names and bytes, in sorted order):
    two model folders with the same weights and configs get the same fingerprint wherever they live."""
    folder = Path(folder)
    suffixes = tuple(suffixes)
    h = hashlib.sha256()
    for p in sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix in suffixes):
        h.update(str(p.relative_to(folder)).encode())
        with open(p, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    return _digest(h)


def records_fingerprint(records: Iterable[Iterable[Any]]) -> dict[str, Any]:
    """``{"rows": n, "sha256": ...}`` of records (for example evaluation pairs with their gold scores),
    independent of the file layout they were read from."""
    h = hashlib.sha256()
    rows = 0
    for rec in records:
        h.update(("\t".join(map(str, rec)) + "\n").encode("utf-8"))
        rows += 1
    return {"rows": rows, "sha256": _digest(h)}
