"""Train a SimCSE model: the flags of the original SimCSE train.py (see ``python train.py --help``).

Thin entry point; the work is done by :func:`simcse.cli.train.main` (also ``simcse train``), which
parses the flags into a ``simcse.TrainConfig`` and runs ``simcse.train``.
Multi-GPU: ``torchrun --nproc_per_node N train.py ...``.
"""
import sys

from simcse.cli.train import main

if __name__ == "__main__":
    sys.exit(main())
