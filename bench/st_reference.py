"""Issue 8's reference, measured rather than typed in: sentence-transformers' SimCSE recipe trained on
the same data as ``simcse reproduce`` and scored by the same STS7 evaluator, written as a result file
of ``simcse reproduce`` so that ``--compare`` can put it beside ours.

    python -m bench.st_reference --output st.json                          # the three trained rows, 3 seeds
    python -m bench.st_reference --only "unsupervised SimCSE, CLS" --set temp=0.1 --suffix " [temp 0.1]"
    simcse reproduce --compare ours.json st.json                            # paired by seed

What the issue's author ran (as we read the issue): ``SentenceTransformerTrainer`` with
``MultipleNegativesRankingLoss(scale=1/temperature)`` (cosine similarity, in-batch negatives, the
contradiction as an extra negative for the supervised row), the pooling of the row (mean, or CLS
with no MLP), max length 32, bf16 on a GPU, every other setting at sentence-transformers' default
(linear decay, no warm-up, no weight decay, gradient clipping at 1.0), and the model the training
ends with (no checkpoint selection). The unsupervised rows train on (sentence, same sentence) pairs:
the two views differ by dropout.

Why measure it: a departure from the recipe (another temperature, more epochs) that lifts our row may
lift sentence-transformers' row as well. This script runs the reference under the same ``--set``
overrides, so a gap is measured between like and like. ``--preset cpu`` is a reduced smoke form
(30 steps, one seed).
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any, Sequence

import sentence_transformers
from sentence_transformers import SentenceTransformer, SentenceTransformerTrainer, SentenceTransformerTrainingArguments

from simcse.cli.reproduce import add_run_args
from simcse.experiments.reproduce import MAIN_RUNS, RunSetup, markdown_table, sts7, training_rows

try:  # where recent sentence-transformers releases keep them (sentence_transformers.models / .losses are deprecated)
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss
    from sentence_transformers.sentence_transformer.modules import Pooling
except ImportError:  # pragma: no cover - depends on the installed release
    from sentence_transformers.losses import MultipleNegativesRankingLoss
    from sentence_transformers.models import Pooling

# The sentence-transformers side of each row: the pooling it trains and is scored with.
POOLING = {"avg": ("mean", "avg"), "cls": ("cls", "cls_before_pooler"), "cls_before_pooler": ("cls", "cls_before_pooler")}
KNOWN = {"per_device_train_batch_size", "learning_rate", "num_train_epochs", "temp", "pooler_type"}


def load_st_model(model: str, pooling: str, device: str):
    """The backbone as a SentenceTransformer whose pooling is ``pooling`` (``mean`` or ``cls``), max length 32."""
    st = SentenceTransformer(model, device=device)
    first = st[0]
    # recent releases renamed get_sentence_embedding_dimension to get_embedding_dimension
    dim_of = getattr(st, "get_embedding_dimension", None) or st.get_sentence_embedding_dimension
    dim = dim_of()
    st = SentenceTransformer(modules=[first, Pooling(dim, pooling)], device=device)
    st.max_seq_length = 32
    return st


def train_st(model: str, rows: list[str] | list[list[str]], kind: str, params: dict[str, Any], seed: int, out: Path,
             device: str, max_steps: int | None) -> Path:
    """Train one row with sentence-transformers and save the final model to ``out``. ``rows``: sentences
    (``kind`` unsup; each is its own positive) or (anchor, positive, hard negative) triplets."""
    from datasets import Dataset  # optional: the sentence-transformers trainer's data format

    unknown = set(params) - KNOWN
    if unknown:
        raise SystemExit(f"bench.st_reference: no sentence-transformers equivalent for {sorted(unknown)}; "
                         f"it runs {sorted(KNOWN)}")
    pooling, _ = POOLING[params["pooler_type"]]
    st = load_st_model(model, pooling, device)
    if kind == "unsup":
        data = Dataset.from_dict({"anchor": rows, "positive": rows})
    else:
        data = Dataset.from_dict({"anchor": [r[0] for r in rows], "positive": [r[1] for r in rows],
                                  "negative": [r[2] for r in rows]})
    args = SentenceTransformerTrainingArguments(
        output_dir=str(out / "trainer"), per_device_train_batch_size=int(params["per_device_train_batch_size"]),
        learning_rate=float(params["learning_rate"]), num_train_epochs=float(params["num_train_epochs"]),
        max_steps=max_steps or -1, bf16=device == "cuda", use_cpu=device == "cpu", seed=seed,
        save_strategy="no", logging_steps=25, report_to="none", disable_tqdm=True,
    )
    loss = MultipleNegativesRankingLoss(st, scale=1.0 / float(params["temp"]))
    SentenceTransformerTrainer(model=st, args=args, train_dataset=data, loss=loss).train()
    st.save(str(out / "model"))
    return out / "model"


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.st_reference", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    add_run_args(p)
    p.add_argument("--only", nargs="+", default=None, choices=list(MAIN_RUNS), help="run only these rows")
    p.add_argument("--set", nargs="+", default=[], metavar="FLAG=VALUE",
                   help=f"override a setting of every row (one of {sorted(KNOWN - {'pooler_type'})})")
    p.add_argument("--suffix", default="", help="appended to row names")
    p.add_argument("--output", required=True, help="result file (rows already in it are kept, with a warning when "
                   "it was written under another set-up)")
    p.add_argument("--work_dir", default=None)
    args = p.parse_args(argv)

    overrides: dict[str, Any] = {}
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep or key.lstrip("-") not in KNOWN - {"pooler_type"}:
            p.error(f"--set expects FLAG=VALUE with FLAG one of {sorted(KNOWN - {'pooler_type'})}, got {item!r}")
        overrides[key.lstrip("-")] = value
    try:
        setup = RunSetup.create(args.output, f"sentence-transformers {sentence_transformers.__version__}",
                                "st-reference-", model=args.model, data_dir=args.data_dir, preset=args.preset,
                                seeds=args.seeds, work_dir=args.work_dir)
    except (OSError, ValueError) as exc:
        raise SystemExit(f"bench.st_reference: {exc}") from None
    results, out_path = setup.results, Path(args.output)
    sentences, triplets = training_rows(setup.files)
    for name, (kind, params) in MAIN_RUNS.items():
        if args.only and name not in args.only:
            continue
        # Our CLS row adds SimCSE's MLP head; sentence-transformers' has none (pooling = the CLS vector).
        params = {k: v for k, v in params.items() if k != "mlp_only_train"}
        params = dict(params, **overrides)
        if params["pooler_type"] == "cls":
            params["pooler_type"] = "cls_before_pooler"
        runs = []
        for seed in setup.seeds:
            t = time.perf_counter()
            folder = train_st(setup.model, sentences if kind == "unsup" else triplets, kind, params, seed,
                              setup.work / f"{len(results['rows'])}-{seed}", setup.device, setup.max_steps)
            row = sts7(str(folder), setup.senteval, pooler=POOLING[params["pooler_type"]][1], device=setup.device)
            row["seed"] = seed
            row["train_eval_seconds"] = round(time.perf_counter() - t, 1)
            runs.append(row)
            print(name + args.suffix, row, flush=True)
        results["rows"][name + args.suffix] = {"kind": kind, "params": params, "eval_steps": None, "runs": runs}
        out_path.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(markdown_table(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
