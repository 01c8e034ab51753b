"""Write a benchmark corpus of N lines for ``simcse encode --input`` (bench/corpus_encode.py), made from the
shared Wikipedia sample: ``$SIMCSE_DATA_DIR/wiki/wiki1m_for_simcse*.txt`` (11,913 sentences).

    python scripts/make_bench_corpus.py 1000000 /scratch/corpus.txt [--seed 0] [--jsonl]

Line ``i`` is either a sample sentence followed by `` (i)`` (half of the lines), or the first words of one
sample sentence joined to the last words of another, cut at the same fraction of each, so the lengths
follow the sample's distribution and no two lines are the same. The sentences are picked by a seeded
random generator: the same N, seed and sample give the same file. ``--jsonl`` writes ``{"id": "doc-i",
"text": ...}`` records instead. The file is written as it is generated (memory holds the sample only)
and never inside this repository.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def sample_file(data_dir: str | None) -> Path:
    """The Wikipedia sample in ``data_dir`` (default: $SIMCSE_DATA_DIR, else ../shared/data beside the repo)."""
    root = Path(data_dir or os.environ.get("SIMCSE_DATA_DIR") or REPO.parent / "shared" / "data")
    found = sorted((root / "wiki").glob("wiki1m_for_simcse*.txt"))
    if not found:
        raise SystemExit(f"make_bench_corpus: no wiki/wiki1m_for_simcse*.txt under {root} (set SIMCSE_DATA_DIR)")
    return found[0]


def bench_lines(sentences: list[str], n: int, seed: int):
    """The ``n`` lines of the corpus (see the module docstring), one at a time."""
    rng = random.Random(seed)
    words = [s.split() for s in sentences]
    for i in range(n):
        a = rng.randrange(len(sentences))
        if rng.random() < 0.5:
            yield f"{sentences[a]} ({i})"
            continue
        b = rng.randrange(len(sentences))
        cut = rng.random()
        head = words[a][: max(1, round(len(words[a]) * cut))]
        tail = words[b][round(len(words[b]) * cut):]
        yield " ".join(head + tail)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("n", type=int, help="number of lines")
    p.add_argument("out", type=Path, help="file to write (outside the repository)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--jsonl", action="store_true", help='write {"id", "text"} records')
    p.add_argument("--data_dir", help="data folder holding wiki/ (default: $SIMCSE_DATA_DIR)")
    args = p.parse_args(argv)
    if args.n < 1:
        p.error(f"n must be at least 1, got {args.n}")
    out = args.out.expanduser().resolve()
    if out.is_relative_to(REPO):
        p.error(f"{out} is inside the repository; write benchmark corpora elsewhere")
    src = sample_file(args.data_dir)
    sentences = [s.strip() for s in src.read_text(encoding="utf-8").splitlines() if s.strip()]
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", encoding="utf-8", newline="\n") as fh:
        for i, line in enumerate(bench_lines(sentences, args.n, args.seed)):
            fh.write((json.dumps({"id": f"doc-{i}", "text": line}, ensure_ascii=False) if args.jsonl else line) + "\n")
    print(f"wrote {args.n} lines ({out.stat().st_size} bytes) from {src.name} to {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
