"""Checkpoint folders a run can trust: which ``checkpoint-<step>`` folders are complete, and the named
errors of a save that ran out of disk space.

A run killed while the Trainer writes a checkpoint leaves a folder without (or with a truncated)
``optimizer.pt``, ``scheduler.pt`` or ``trainer_state.json`` (the Trainer writes that one last).
:func:`checkpoint_problem` finds such a file cheaply: ``trainer_state.json`` must parse, the
``torch.save`` files (zip archives) must pass their CRC check, and ``model.safetensors`` must be as
long as its header says. :func:`last_complete_checkpoint` is ``--resume_from_checkpoint True``: the
newest folder with no problem, with the ones it skipped.
"""
from __future__ import annotations

import errno
import json
import re
import struct
import zipfile
from pathlib import Path

CHECKPOINT_RE = re.compile(r"checkpoint-(\d+)")
TORCH_FILES = ("optimizer.pt", "scheduler.pt", "rng_state.pth", "scaler.pt", "training_args.bin",
               "simcse_training_heads.pt", "pytorch_model.bin")
"""``torch.save`` files (zip archives) a checkpoint may hold."""
RESUME_FILES = ("trainer_state.json", "optimizer.pt", "scheduler.pt")
"""What resuming needs besides the model weights (the optimizer and scheduler unless ``--save_only_model``)."""
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin", "adapter_model.safetensors")


class DiskFullError(OSError):
    """No space left on the device while saving; the message names what was being saved and what is intact."""

    def __init__(self, message: str):
        super().__init__(errno.ENOSPC, message)

    def __str__(self) -> str:
        return str(self.strerror)


def safetensors_problem(path: Path) -> str | None:
    """Why ``path`` is not a whole safetensors file (None if it is): its header says how long it is."""
    size = path.stat().st_size
    try:
        with open(path, "rb") as f:
            head = f.read(8)
            if len(head) < 8:
                return "shorter than its header"
            (n,) = struct.unpack("<Q", head)
            if n > size - 8:
                return "truncated (its header is cut off)"
            header = json.loads(f.read(n))
    except (ValueError, UnicodeDecodeError):
        return "its header is not valid JSON"
    end = max((v["data_offsets"][1] for k, v in header.items() if k != "__metadata__"), default=0)
    if size != 8 + n + end:
        return f"{size} bytes where its header says {8 + n + end} (truncated or appended to)"
    return None


def torch_file_problem(path: Path) -> str | None:
    """Why a ``torch.save`` file is damaged (None if its zip archive passes the CRC check)."""
    try:
        with zipfile.ZipFile(path) as z:
            bad = z.testzip()
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        return f"not a whole torch.save file ({exc})"
    return f"its entry {bad} fails the CRC check" if bad else None


def checkpoint_problem(folder: str | Path, needs_optimizer: bool = True) -> str | None:
    """What makes ``folder`` unusable for resuming, naming the file (None: it is complete)."""
    folder = Path(folder)
    if not folder.is_dir():
        return f"{folder} is not a folder"
    required = RESUME_FILES if needs_optimizer else RESUME_FILES[:1]
    for name in required:
        if not (folder / name).is_file():
            return f"{folder / name} is missing (the run was stopped while writing the checkpoint)"
    try:
        json.loads((folder / "trainer_state.json").read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        return f"{folder / 'trainer_state.json'} is not valid JSON ({exc})"
    weights = [folder / name for name in WEIGHT_FILES if (folder / name).is_file()]
    if not weights:
        return f"{folder} holds no model weights ({' or '.join(WEIGHT_FILES)})"
    for path in weights:
        problem = safetensors_problem(path) if path.suffix == ".safetensors" else None
        if problem:
            return f"{path} is damaged: {problem}"
    for name in TORCH_FILES:
        if (folder / name).is_file():
            problem = torch_file_problem(folder / name)
            if problem:
                return f"{folder / name} is damaged: {problem}"
    return None


def checkpoint_folders(output_dir: str | Path) -> list[Path]:
    """The ``checkpoint-<step>`` folders of ``output_dir``, newest (highest step) first."""
    out = Path(output_dir)
    if not out.is_dir():
        return []
    found = [p for p in out.iterdir() if p.is_dir() and CHECKPOINT_RE.fullmatch(p.name)]
    return sorted(found, key=lambda p: int(p.name.split("-")[1]), reverse=True)


def last_complete_checkpoint(output_dir: str | Path, needs_optimizer: bool = True) -> tuple[Path | None, list[str]]:
    """The newest complete checkpoint of ``output_dir`` and the problems of the newer ones it skipped."""
    skipped: list[str] = []
    for folder in checkpoint_folders(output_dir):
        problem = checkpoint_problem(folder, needs_optimizer)
        if problem is None:
            return folder, skipped
        skipped.append(problem)
    return None, skipped
