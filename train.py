"""Train a SimCSE model: the flags of the original SimCSE train.py (see ``python train.py --help``).

Thin entry point; the work is done by :func:`simcse.training.run.main` (also ``simcse train``).
Multi-GPU: ``torchrun --nproc_per_node N train.py ...``.
"""
import sys

from simcse.training.run import main

if __name__ == "__main__":
    sys.exit(main())
