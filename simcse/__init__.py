"""simcse: contrastive sentence embeddings (SimCSE) - train, evaluate, encode and search."""
from __future__ import annotations

import importlib
from typing import Any

from . import compat
from .encoder import EncoderConfig, SentenceEncoder, default_model_path
from .pooling import POOLERS
from .tool import SimCSE
from .version import __version__

compat.install()

__all__ = [
    "SimCSE", "SentenceEncoder", "EncoderConfig", "POOLERS", "default_model_path", "train", "TrainConfig",
    "TrainResult", "__version__",
]

TRAINING_API = {"train": "simcse.training.run", "TrainResult": "simcse.training.run",
                "TrainConfig": "simcse.training.config"}
"""The training API exported here, by the module that defines each name."""


def __getattr__(name: str) -> Any:
    """``simcse.train``, ``simcse.TrainConfig`` and ``simcse.TrainResult``, imported on first use: the training
    modules import transformers' Trainer (and peft through it), seconds that ``from simcse import SimCSE`` would
    otherwise pay."""
    if name in TRAINING_API:
        return getattr(importlib.import_module(TRAINING_API[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
