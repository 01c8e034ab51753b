"""The SimCSE paper's published scores, to put beside an evaluation of the same checkpoint or recipe.

Gao, Yao and Chen (EMNLP 2021): Table 5 (STS12-16, STS-B, SICK-R; Spearman x 100, SentEval's "all"
setting) and Table E.1 (the seven transfer tasks, accuracy; the rows without the MLM objective), for
the six models the authors released, keyed by the released checkpoints' names
(``princeton-nlp/<name>`` on the Hugging Face Hub).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from .engine import STS_TASKS, TRANSFER_TASKS, format_table

SOURCE = "Gao, Yao and Chen (2021), SimCSE, Tables 5 and E.1"

# name -> (STS12, STS13, STS14, STS15, STS16, STS-B, SICK-R), (MR, CR, SUBJ, MPQA, SST-2, TREC, MRPC)
_PAPER: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = {
    "unsup-simcse-bert-base-uncased": ((68.40, 82.41, 74.38, 80.91, 78.56, 76.85, 72.23),
                                       (81.18, 86.46, 94.45, 88.88, 85.50, 89.80, 74.43)),
    "unsup-simcse-roberta-base": ((70.16, 81.77, 73.24, 81.36, 80.65, 80.22, 68.56),
                                  (81.04, 87.74, 93.28, 86.94, 86.60, 84.60, 73.68)),
    "unsup-simcse-roberta-large": ((72.86, 83.99, 75.62, 84.77, 81.80, 81.98, 71.26),
                                   (82.74, 87.87, 93.66, 88.22, 88.58, 92.00, 69.68)),
    "sup-simcse-bert-base-uncased": ((75.30, 84.67, 80.19, 85.40, 80.82, 84.25, 80.39),
                                     (82.69, 89.25, 94.81, 89.59, 87.31, 88.40, 73.51)),
    "sup-simcse-roberta-base": ((76.53, 85.21, 80.95, 86.03, 82.57, 85.83, 80.50),
                                (84.92, 92.00, 94.11, 89.82, 91.27, 88.80, 75.65)),
    "sup-simcse-roberta-large": ((77.46, 87.27, 82.36, 86.66, 83.93, 86.70, 81.95),
                                 (88.12, 92.37, 95.11, 90.49, 92.75, 91.80, 76.64)),
}
PAPER_MODELS = tuple(_PAPER)


def paper_scores(name: str) -> dict[str, float]:
    """The paper's score for each task (our task names) of the released model ``name``."""
    if name not in _PAPER:
        raise ValueError(f"no published scores for {name!r}; known: {', '.join(PAPER_MODELS)}")
    sts, transfer = _PAPER[name]
    return {**dict(zip(STS_TASKS, sts)), **dict(zip(TRANSFER_TASKS, transfer))}  # Table E.1's column order


def reference_for(model: str | None) -> str | None:
    """The released model that ``model`` (a hub name such as ``princeton-nlp/sup-simcse-bert-base-uncased``
    or a folder of that name) is, or None."""
    if not model:
        return None
    name = Path(str(model).rstrip("/")).name
    return name if name in _PAPER else None


def compare_with_paper(scores: dict[str, float], name: str) -> dict[str, Any]:
    """``{"name", "source", "scores", "delta", "avg"}`` for the tasks that ``scores`` and the paper share:
    the paper's scores, ours minus the paper's, and each table's average over those tasks (ours, the
    paper's, delta)."""
    paper = paper_scores(name)
    shared = [t for t in (*STS_TASKS, *TRANSFER_TASKS) if t in scores and t in paper]
    if not shared:
        raise ValueError(f"none of the evaluated tasks ({', '.join(scores)}) has a published score for {name}")
    delta = {t: round(scores[t] - paper[t], 2) for t in shared}
    avg: dict[str, dict[str, float]] = {}
    for key, group in (("sts", STS_TASKS), ("transfer", TRANSFER_TASKS)):
        tasks = [t for t in group if t in delta]
        if tasks:
            ours = round(sum(scores[t] for t in tasks) / len(tasks), 2)
            theirs = round(sum(paper[t] for t in tasks) / len(tasks), 2)
            avg[key] = {"ours": ours, "paper": theirs, "delta": round(ours - theirs, 2), "tasks": len(tasks)}
    return {"name": name, "source": SOURCE, "scores": {t: paper[t] for t in shared}, "delta": delta, "avg": avg}


def comparison_tables(scores: dict[str, float], comparison: dict[str, Any]) -> str:
    """Ours / paper / delta rows for each table (STS, transfer) that has shared tasks."""
    parts = [f"------ against the paper: {comparison['name']} ({comparison['source']}) ------"]
    for key, group in (("sts", STS_TASKS), ("transfer", TRANSFER_TASKS)):
        tasks = [t for t in group if t in comparison["delta"]]
        if not tasks:
            continue
        a = comparison["avg"][key]
        names = ["", *tasks, "Avg."]
        parts.append(format_table(
            names,
            ["ours", *(f"{scores[t]:.2f}" for t in tasks), f"{a['ours']:.2f}"],
            ["paper", *(f"{comparison['scores'][t]:.2f}" for t in tasks), f"{a['paper']:.2f}"],
            ["delta", *(f"{comparison['delta'][t]:+.2f}" for t in tasks), f"{a['delta']:+.2f}"],
        ))
    return "\n".join(parts)
