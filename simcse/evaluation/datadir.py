"""Where evaluation data lives: ``--data_dir``, else ``$SIMCSE_DATA_DIR``, else ``SentEval/data/downstream``.

The directory is in SentEval's layout (``STS/STS12-en-test``, ``STS/STSBenchmark``, ``SICK``, ``MR``, ...).
``$SIMCSE_DATA_DIR`` may also point at a folder that holds ``SentEval-downstream`` (as ``../shared/data`` does).
"""
from __future__ import annotations

import os
from pathlib import Path

DEFAULT_DATA_DIR = Path("SentEval") / "data" / "downstream"
SENTEVAL_SUBDIR = "SentEval-downstream"


def resolve_data_dir(data_dir: str | os.PathLike | None = None) -> Path:
    """The SentEval downstream folder to read (not checked for content; readers name missing files)."""
    if data_dir is None:
        data_dir = os.environ.get("SIMCSE_DATA_DIR") or DEFAULT_DATA_DIR
    path = Path(data_dir).expanduser()
    if (path / SENTEVAL_SUBDIR).is_dir():
        path = path / SENTEVAL_SUBDIR
    return path


def require_file(path: Path, task: str, layout: str) -> Path:
    """Return ``path`` if it is a file, else ``FileNotFoundError`` naming it and the expected layout."""
    if not path.is_file():
        raise FileNotFoundError(
            f"{task}: data file {str(path)!r} is missing. Expected SentEval's layout under the data "
            f"directory: {layout}. Set --data_dir or SIMCSE_DATA_DIR, or run SentEval/download_dataset.sh."
        )
    return path


def read_stsb(data_dir: str | os.PathLike | None = None, split: str = "dev") -> tuple[list[str], list[str], list[float]]:
    """STS-B pairs and gold scores (0-5) for ``split`` in {train, dev, test}."""
    root = resolve_data_dir(data_dir)
    f = require_file(root / "STS" / "STSBenchmark" / f"sts-{split}.csv", "STSBenchmark",
                     "STS/STSBenchmark/sts-{train,dev,test}.csv")
    s1: list[str] = []
    s2: list[str] = []
    scores: list[float] = []
    with open(f, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            cols = line.rstrip("\n").split("\t")
            if len(cols) < 7:
                raise ValueError(f"{f}:{lineno}: expected at least 7 tab-separated columns, got {len(cols)}")
            scores.append(float(cols[4]))
            s1.append(cols[5])
            s2.append(cols[6])
    return s1, s2, scores
