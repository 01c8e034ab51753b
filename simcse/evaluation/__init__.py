"""SentEval-compatible evaluation (STS and transfer tasks) of sentence encoders.

``evaluate(model, tasks=[...], mode="test")`` returns every number; ``simcse evaluate`` and
``evaluation/evaluation.py`` print SimCSE's tables. See :mod:`simcse.evaluation.sts` and
:mod:`simcse.evaluation.transfer` for the exact protocols.
"""
import warnings

from .engine import (
    ALL_TASKS,
    STS_TASKS,
    TASK_SETS,
    TRANSFER_TASKS,
    EmbeddingCache,
    evaluate,
    make_encode_fn,
    results_tables,
)

# MTEB reports a superseded task twice, with logger.warning and with warnings.warn (the same text): keep the
# logged one only.
warnings.filterwarnings("ignore", message=r"The task '.*' is superseded by ", category=UserWarning)

__all__ = ["evaluate", "results_tables", "make_encode_fn", "EmbeddingCache", "ALL_TASKS", "STS_TASKS",
           "TRANSFER_TASKS", "TASK_SETS"]
