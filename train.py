"""Train a SimCSE model: the flags of the original SimCSE train.py (see ``python train.py --help``).

Thin entry point; the work is done by :func:`simcse.train_cli.main` (also ``simcse train``).
Multi-GPU: ``torchrun --nproc_per_node N train.py ...``.
"""
import sys

from simcse.train_cli import main

if __name__ == "__main__":
    sys.exit(main())
