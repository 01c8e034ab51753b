#!/usr/bin/env python
"""Download SentEval's evaluation data (SimCSE's ``senteval.tar``) into ``SentEval/data/downstream``.

    python SentEval/download_dataset.py [--dest SentEval/data/downstream] [--url URL]

Needs internet access. Offline it stops with a message saying what to fetch elsewhere and where to
put it. The archive holds STS12-16, STS-B, SICK and the transfer tasks in SentEval's layout.
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tarfile
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

URL = "https://huggingface.co/datasets/princeton-nlp/datasets-for-simcse/resolve/main/senteval.tar"
DEFAULT_DEST = Path(__file__).resolve().parent / "data" / "downstream"
EXPECTED = ("STS/STS12-en-test", "STS/STSBenchmark/sts-test.csv", "SICK/SICK_test_annotated.txt", "MR", "MRPC")


def download(url: str, target: Path, timeout: float = 60.0) -> None:
    """Fetch ``url`` to the file ``target`` (raises ``urllib.error.URLError`` when unreachable)."""
    with urllib.request.urlopen(url, timeout=timeout) as resp, open(target, "wb") as out:
        total = int(resp.headers.get("Content-Length") or 0)
        done = 0
        while chunk := resp.read(1 << 20):
            out.write(chunk)
            done += len(chunk)
            if total:
                print(f"\r  {done / 2**20:7.1f} / {total / 2**20:.1f} MiB", end="", file=sys.stderr)
    print(file=sys.stderr)


def extract(archive: Path, dest: Path) -> None:
    """Unpack the archive into ``dest`` (members outside it are refused)."""
    with tempfile.TemporaryDirectory(dir=dest.parent) as tmp, tarfile.open(archive) as tar:
        tar.extractall(tmp, filter="data")
        root = Path(tmp)
        # the archive's folders may sit at the top or under one wrapper folder
        entries = [p for p in root.iterdir() if not p.name.startswith(".")]
        if len(entries) == 1 and entries[0].is_dir() and not (root / "STS").exists():
            root = entries[0]
        for item in root.iterdir():
            target = dest / item.name
            if target.exists():
                shutil.rmtree(target) if target.is_dir() else target.unlink()
            shutil.move(str(item), str(target))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dest", type=Path, default=DEFAULT_DEST, help=f"where the data goes (default: {DEFAULT_DEST})")
    p.add_argument("--url", default=URL, help="archive URL (default: SimCSE's senteval.tar on the Hugging Face Hub)")
    p.add_argument("--timeout", type=float, default=60.0, help="network timeout in seconds")
    args = p.parse_args(argv)
    args.dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        archive = Path(tmp) / "senteval.tar"
        print(f"downloading {args.url}", file=sys.stderr)
        try:
            download(args.url, archive, args.timeout)
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            print(
                f"error: could not download {args.url} ({reason}).\n"
                "This machine seems to have no internet access. On a machine that has it, download that file,\n"
                f"copy it here and run: tar xf senteval.tar -C {args.dest}\n"
                "(or point SIMCSE_DATA_DIR / --data_dir at an existing SentEval data/downstream folder).",
                file=sys.stderr,
            )
            return 1
        try:
            extract(archive, args.dest)
        except tarfile.TarError as exc:
            print(f"error: {args.url} is not a valid tar archive ({exc})", file=sys.stderr)
            return 1
    missing = [e for e in EXPECTED if not (args.dest / e).exists()]
    if missing:
        print(f"error: the archive did not contain {', '.join(missing)} under {args.dest}", file=sys.stderr)
        return 1
    print(f"SentEval data ready in {args.dest}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
