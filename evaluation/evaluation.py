"""SimCSE's evaluation entry point (same flags as princeton-nlp/SimCSE's evaluation.py).

    python evaluation/evaluation.py --model_name_or_path MODEL --pooler avg --task_set sts --mode test

Thin wrapper around :func:`simcse.cli.evaluate.main` (also available as ``simcse evaluate``).
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from simcse.cli.evaluate import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(prog="evaluation.py"))
