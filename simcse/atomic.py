"""Files and folders written whole: into a temporary sibling, fsynced, then renamed into place, so
that at every instant the path holds either the old or the new complete result (a crash or a full
disk mid-write leaves the old one, never a half-written one)."""
from __future__ import annotations

import ctypes
import ctypes.util
import errno
import hashlib
import os
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Iterable, Iterator

RENAME_EXCHANGE = 2
"""``renameat2`` flag (Linux): swap two paths in one step."""


def fsync_path(path: Path) -> None:
    """Flush a file's or a folder's entry to disk (folders: where the platform allows opening them)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # Windows cannot open folders
        return
    try:
        os.fsync(fd)
    except OSError as exc:
        if exc.errno not in (errno.EINVAL, errno.EBADF):  # folders that cannot be fsynced on this filesystem
            raise
    finally:
        os.close(fd)


def fsync_tree(folder: Path) -> None:
    """fsync every file under ``folder``, then every folder, ``folder`` itself last."""
    for root, dirs, files in os.walk(folder, topdown=False):
        for name in files:
            fsync_path(Path(root) / name)
        fsync_path(Path(root))


def temp_sibling(path: Path, what: str = "tmp") -> Path:
    """A hidden name beside ``path`` (same folder, so same filesystem: renames are atomic)."""
    return path.parent / f".{what}-{path.name}-{os.getpid()}"


def remove_dead_siblings(path: Path) -> None:
    """Remove the temporary siblings of ``path`` (``.tmp-NAME-PID``, ``.old-NAME-PID``) left by a
    process of this machine that was killed while saving (its PID no longer runs)."""
    if not path.parent.is_dir():
        return
    for what in ("tmp", "old"):
        for entry in path.parent.glob(f".{what}-{glob_escape(path.name)}-*"):
            pid = entry.name.rsplit("-", 1)[1]
            if not pid.isdigit() or int(pid) == os.getpid() or pid_alive(int(pid)):
                continue
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()


def glob_escape(name: str) -> str:
    """``name`` with the characters ``glob`` reads as patterns escaped."""
    return "".join(f"[{c}]" if c in "*?[" else c for c in name)


def pid_alive(pid: int) -> bool:
    """Whether a process ``pid`` runs on this machine (outside POSIX: assumed to, as it cannot be asked safely)."""
    if os.name != "posix":  # os.kill(pid, 0) would end the process on Windows
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


@contextmanager
def atomic_file(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` to write; on success it is fsynced and renamed onto
    ``path``; on any error it is removed and ``path`` is left as it was."""
    target = Path(path)
    tmp = temp_sibling(target)
    try:
        yield tmp
        fsync_path(tmp)
        os.replace(tmp, target)
        fsync_path(target.parent if str(target.parent) else Path("."))
    finally:
        if tmp.exists():
            tmp.unlink()


def exchange_folders(a: Path, b: Path) -> bool:
    """Swap ``a`` and ``b`` in one atomic step (Linux ``renameat2``); False where that is not available."""
    libc_name = ctypes.util.find_library("c")
    if libc_name is None:
        return False
    libc = ctypes.CDLL(libc_name, use_errno=True)
    renameat2 = getattr(libc, "renameat2", None)
    if renameat2 is None:
        return False
    at_fdcwd = -100
    rc = renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), RENAME_EXCHANGE)
    if rc == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP):  # this filesystem or kernel cannot exchange
        return False
    raise OSError(err, f"cannot swap {str(b)!r} with the new version: {os.strerror(err)}")


def replace_folder(new: Path, target: Path, keep: Iterable[str] = ()) -> None:
    """Put the complete folder ``new`` (a sibling of ``target``) at ``target``.

    ``new`` is fsynced first. A missing or empty ``target`` is replaced in one rename; an existing
    one is swapped in one step (``renameat2`` exchange), and the entries of the old folder named in
    ``keep`` (files of the user's) are hard-linked (else copied) into the new one before the swap, so
    they never leave ``target``. Where the platform cannot exchange, the old folder is first renamed
    aside (a hidden sibling ``.old-NAME-PID``), which leaves a moment when only that sibling holds it.
    """
    for name in keep:
        src, dst = target / name, new / name
        if src.is_dir():
            shutil.copytree(src, dst, copy_function=_link_or_copy)
        else:
            _link_or_copy(src, dst)
    fsync_tree(new)
    if target.is_dir() and not any(target.iterdir()):
        target.rmdir()
    if not target.exists():
        os.rename(new, target)
        fsync_path(target.parent)
        return
    if exchange_folders(new, target):
        fsync_path(target.parent)
        shutil.rmtree(new)  # now the old folder
        return
    old = temp_sibling(target, "old")
    os.rename(target, old)
    os.rename(new, target)
    fsync_path(target.parent)
    shutil.rmtree(old)


def _link_or_copy(src: str | os.PathLike, dst: str | os.PathLike) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def sha256_file(path: str | os.PathLike) -> str:
    """The hex sha256 of a file's bytes (read 4 MiB at a time)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()
