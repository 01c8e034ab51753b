"""The reproduction table on all-MiniLM-L6-v2: no training vs our unsupervised / supervised SimCSE
(``simcse reproduce``, :mod:`simcse.cli.reproduce`; :func:`reproduce_table` runs it without a command line).

Data (from the data directory, ``data_dir`` or ``$SIMCSE_DATA_DIR``): the wiki1m head
(``wiki/wiki1m_for_simcse*.txt``) for unsupervised training and the SNLI dev+test triplets
(premise, entailment, contradiction; built from ``nli/snli-senteval``) for supervised training.
Recipe (issue 8): temperature 0.05, max length 32 for training and 256 for evaluation;
unsupervised batch 64, lr 3e-5, 1 epoch; supervised batch 128, lr 5e-5, 3 epochs; bf16 on GPU;
STS-B dev every 25 steps with best-checkpoint selection (SimCSE selects on STS-B dev every 125 steps of a 1M-sentence epoch; these runs are 138-187 steps long). Evaluation: STS7
in SentEval's 'all' setting, Spearman x 100, with our engine.

Result files record the library versions, the device, and fingerprints of the model and of the
training and evaluation data (:mod:`simcse.experiments.provenance`). :func:`compare` puts two result
files side by side (or one against the sentence-transformers reference of issue 8): per-row deltas,
deltas paired by seed, and every recorded setting, version or fingerprint that differs.

Why one module: running the table, merging and comparing result files all
work on the one result-file format defined here.
"""
from __future__ import annotations

import csv
import json
import math
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Mapping, Sequence

import torch

from ..version import __version__
from ..encoder import resolve_model_path, token_limit
from ..evaluation import evaluate
from ..evaluation.datadir import read_sick, read_sts_year, read_stsb, resolve_data_dir
from ..evaluation.engine import STS_TASKS
from ..tool import SimCSE
from ..training.config import TrainConfig
from ..training.data import build_nli_triplets
from ..training.run import train
from .provenance import environment, folder_fingerprint, records_fingerprint

COLS = ["STS12", "STS13", "STS14", "STS15", "STS16", "STS-B", "SICK-R"]

UNSUP = dict(per_device_train_batch_size=64, learning_rate=3e-5, num_train_epochs=1, temp=0.05)
SUP = dict(per_device_train_batch_size=128, learning_rate=5e-5, num_train_epochs=3, temp=0.05)

# name -> (kind, pooler settings, hyper-parameters)
MAIN_RUNS: dict[str, tuple[str, dict[str, Any]]] = {
    "unsupervised SimCSE, mean": ("unsup", dict(UNSUP, pooler_type="avg")),
    "unsupervised SimCSE, CLS": ("unsup", dict(UNSUP, pooler_type="cls", mlp_only_train=True)),
    "supervised SimCSE, mean": ("sup", dict(SUP, pooler_type="avg")),
}
BASELINES = {"no training, mean pooling": "avg", "no training, CLS pooling": "cls_before_pooler"}


def reference_result() -> dict[str, Any]:
    """The reference of issue 8, in the shape of a result file: all-MiniLM-L6-v2 trained with
    sentence-transformers 6.0.1 (MultipleNegativesRankingLoss, scale 20 = temperature 0.05) on the same
    data and recipe, no checkpoint selection, measured on one H100 by the issue's author."""
    table = {
        "no training, mean pooling": (None, None, [72.37, 80.60, 75.59, 85.39, 78.99, 82.03, 77.15, 78.87]),
        "no training, CLS pooling": (None, None, [75.06, 76.45, 71.51, 75.29, 73.54, 73.50, 70.47, 73.69]),
        "unsupervised SimCSE, mean": ("unsup", dict(UNSUP, pooler_type="avg"),
                                      [72.12, 81.66, 76.50, 86.13, 80.78, 83.09, 76.70, 79.57]),
        "unsupervised SimCSE, CLS": ("unsup", dict(UNSUP, pooler_type="cls_before_pooler"),
                                     [70.88, 79.48, 73.72, 81.26, 78.16, 78.88, 71.13, 76.22]),
        "supervised SimCSE, mean": ("sup", dict(SUP, pooler_type="avg"),
                                    [73.24, 81.14, 76.09, 85.03, 78.55, 81.74, 78.87, 79.24]),
    }
    rows: dict[str, Any] = {}
    for name, (kind, params, values) in table.items():
        rows[name] = {"runs": [dict(zip(COLS + ["Avg"], values))]}
        if kind:
            rows[name].update(kind=kind, params=params, eval_steps=None)
    return {"model": "sentence-transformers/all-MiniLM-L6-v2", "trainer": "sentence-transformers 6.0.1",
            "device": "H100", "preset": "gpu", "environment": {"sentence_transformers": "6.0.1"},
            "data": {"unsup_sentences": {"rows": 11913}, "sup_triplets": {"rows": 5863}}, "rows": rows}


REFERENCE_NAME = "the sentence-transformers 6.0.1 reference (issue 8)"


def ablation_runs() -> dict[str, tuple[str, dict[str, Any]]]:
    base = dict(UNSUP, pooler_type="cls", mlp_only_train=True)
    runs: dict[str, tuple[str, dict[str, Any]]] = {}
    for t in (0.01, 0.05, 0.1):
        runs[f"unsup temp={t}"] = ("unsup", dict(base, temp=t))
    for name, extra in {
        "cls (MLP in training)": dict(pooler_type="cls", mlp_only_train=True),
        "cls_before_pooler": dict(pooler_type="cls_before_pooler", mlp_only_train=False),
        "avg": dict(pooler_type="avg", mlp_only_train=False),
        "avg_first_last": dict(pooler_type="avg_first_last", mlp_only_train=False),
    }.items():
        runs[f"unsup pooler={name}"] = ("unsup", dict(base, **extra))
    for b in (32, 64, 128, 256):
        runs[f"unsup batch={b}"] = ("unsup", dict(base, per_device_train_batch_size=b))
    sup = dict(SUP, pooler_type="avg")
    runs["sup without hard negatives"] = ("sup-pairs", sup)
    for alpha in (0.5, 1.0, 2.0):
        runs[f"sup hard-negative weight alpha={alpha}"] = ("sup", dict(sup, hard_negative_weight=round(math.log(alpha), 6)))
    return runs


WORK_MARKER = ".simcse-reproduce"
"""Marks a work folder as written by a table run, which may then reuse it."""


def eval_interval(eval_steps: int | None, max_steps: int | None) -> int:
    """The STS-B dev (and checkpoint) interval: ``--eval_steps``, else 25, or half the steps of a
    step-limited (CPU preset) run."""
    if eval_steps is not None:
        return eval_steps
    return max(1, max_steps // 2) if max_steps else 25


def prepare_data(data_dir: Path, work: Path, limit: int | None) -> dict[str, Path]:
    """The unsupervised sentence file, the supervised triplet CSV and a pairs-only CSV."""
    wiki = sorted((data_dir / "wiki").glob("wiki1m_for_simcse*.txt"))
    if not wiki:
        raise FileNotFoundError(f"no wiki/wiki1m_for_simcse*.txt under {data_dir}")
    unsup = work / "wiki.txt"
    lines = wiki[0].read_text(encoding="utf-8").splitlines()
    unsup.write_text("\n".join(lines[:limit] if limit else lines) + "\n", encoding="utf-8")
    sup = work / "snli_triplets.csv"
    n = build_nli_triplets([data_dir / "nli" / "snli-senteval"], sup, splits=("dev", "test"), overwrite=True)
    with open(sup, encoding="utf-8") as f:
        rows = list(csv.reader(f))
    header, body = rows[0], rows[1:]
    if limit:
        body = body[:limit]
        with open(sup, "w", encoding="utf-8", newline="") as f:
            csv.writer(f).writerows([header] + body)
    pairs = work / "snli_pairs.csv"
    with open(pairs, "w", encoding="utf-8", newline="") as f:
        csv.writer(f).writerows([header[:2]] + [r[:2] for r in body])
    print(f"data: {len(lines[:limit] if limit else lines)} wiki sentences, {len(body)} of {n} SNLI triplets", flush=True)
    return {"unsup": unsup, "sup": sup, "sup-pairs": pairs}


def training_rows(files: dict[str, Path]) -> tuple[list[str], list[list[str]]]:
    """The unsupervised sentences and the supervised triplets that :func:`prepare_data` wrote."""
    with open(files["sup"], encoding="utf-8", newline="") as f:
        triplets = list(csv.reader(f))[1:]
    return files["unsup"].read_text(encoding="utf-8").splitlines(), triplets


def data_fingerprints(files: dict[str, Path], senteval: Path) -> dict[str, Any]:
    """Row counts and content hashes of the training files and of the STS7 test pairs (with their gold
    scores), as read: the same data in another file layout gets the same fingerprint."""
    sentences, triplets = training_rows(files)
    out: dict[str, Any] = {
        "unsup_sentences": records_fingerprint([line] for line in sentences),
        "sup_triplets": records_fingerprint(triplets),
        "eval": {},
    }
    for col, task in zip(COLS, STS_TASKS):
        if task.startswith("STS1"):
            pairs = [(sub, *p) for sub, cols in read_sts_year(task, senteval).items() for p in zip(*cols)]
        elif task == "STSBenchmark":
            pairs = list(zip(*read_stsb(senteval, split="test")))
        else:
            pairs = list(zip(*read_sick(senteval, split="test")[:3]))
        out["eval"][col] = records_fingerprint(pairs)
    return out


def sts7(model: str | Path, data_dir: Path, pooler: str | None = None, device: str | None = None) -> dict[str, float]:
    """The STS7 row of ``model`` (Spearman x 100 per task and their mean ``Avg``) on the test sets."""
    model = SimCSE(str(model), device=device, pooler=pooler)
    # the recipe's 256 tokens, or all a smaller model has (a tiny test model has 32 positions)
    length = min(256, token_limit(model.encoder) or 256)
    res = evaluate(model, tasks=list(STS_TASKS), mode="test", data_dir=data_dir, max_length=length,
                   batch_size=256)
    row = {col: res["scores"][task] for col, task in zip(COLS, STS_TASKS)}
    row["Avg"] = round(sum(row.values()) / len(row), 2)
    return row


def train_config(model: str, train_file: str | Path, params: Mapping[str, Any], seed: int, out: Path, device: str,
                 max_steps: int | None, data_dir: Path, eval_steps: int = 125) -> TrainConfig:
    """The training run of one table row and seed: the recipe's fixed settings, then the row's ``params``
    (train.py flag names), then the step limit of a short preset."""
    return TrainConfig.from_flags({
        "model_name_or_path": model, "train_file": str(train_file), "output_dir": str(out), "overwrite_output_dir": True,
        "max_seq_length": 32, "seed": seed, "data_dir": str(data_dir), "eval_strategy": "steps",
        "eval_steps": eval_steps, "save_strategy": "steps", "save_steps": eval_steps, "save_total_limit": 2,
        "metric_for_best_model": "stsb_spearman", "load_best_model_at_end": True, "greater_is_better": True,
        "logging_steps": 25, "report_to": "none", "disable_tqdm": True, "do_train": True,
        **({"bf16": True} if device == "cuda" else {"use_cpu": True}), **params,
        **({"max_steps": max_steps} if max_steps else {}),
    })


def train_one(model: str, files: dict[str, Path], kind: str, params: Mapping[str, Any], seed: int, out: Path,
              device: str, max_steps: int | None, data_dir: Path, eval_steps: int = 125) -> Path:
    """Train one row (``kind``: which of :func:`prepare_data`'s files) with one seed; returns the model folder."""
    train(train_config(model, files[kind], params, seed, out, device, max_steps, data_dir, eval_steps))
    return out


PRESETS = ("gpu", "cpu")
"""``gpu``: the full runs, 3 seeds; ``cpu``: a reduced form for a 2-core CPU (1 seed, 30 steps each)."""


def default_preset() -> str:
    """``gpu`` where CUDA is available, else ``cpu``."""
    return "gpu" if torch.cuda.is_available() else "cpu"


class RunSetup:
    """What a table run starts from: the model, the evaluation data, the preset's device / seeds / step
    limit, the prepared training files, and the result dict (provenance recorded; rows already in
    ``output`` kept, see :func:`keep_earlier_rows`)."""

    @classmethod
    def create(cls, output: str | Path, trainer: str, work_prefix: str, model: str | None = None,
               data_dir: str | Path | None = None, preset: str | None = None, seeds: Sequence[int] | None = None,
               work_dir: str | Path | None = None) -> RunSetup:
        """Prepare a run: ``trainer`` is recorded as what trained the rows, ``work_prefix`` names the temporary
        work folder made when ``work_dir`` is not given; the other arguments are those of :func:`reproduce_table`."""
        preset = preset or default_preset()
        if preset not in PRESETS:
            raise ValueError(f"preset {preset!r} is unknown; choose one of {', '.join(PRESETS)}")
        self = cls()
        data_root = Path(data_dir or os.environ.get("SIMCSE_DATA_DIR") or "SentEval/data/downstream")
        self.senteval = resolve_data_dir(data_root)
        self.model = str(resolve_model_path(model))
        self.device = "cuda" if preset == "gpu" else "cpu"
        self.seeds = list(seeds or ([42, 43, 44] if preset == "gpu" else [42]))
        self.max_steps = None if preset == "gpu" else 30
        self.work = Path(work_dir or tempfile.mkdtemp(prefix=work_prefix))
        if self.work.exists() and not self.work.is_dir():
            raise ValueError(f"--work_dir {str(self.work)!r} is a file, not a folder")
        if self.work.is_dir() and any(self.work.iterdir()) and not (self.work / WORK_MARKER).is_file():
            raise ValueError(
                f"--work_dir {str(self.work)!r} holds files that a reproduce run did not write; "
                "its data files and run folders would replace them: give a new or empty folder"
            )
        self.work.mkdir(parents=True, exist_ok=True)
        (self.work / WORK_MARKER).write_text("written by simcse reproduce: its data files and run folders\n")
        self.files = prepare_data(data_root, self.work, None if preset == "gpu" else 30 * 128)
        self.results = {"model": self.model, "trainer": trainer,
                        "device": torch.cuda.get_device_name(0) if self.device == "cuda" else "cpu",
                        "preset": preset, "seeds": self.seeds, "environment": environment(),
                        "model_fingerprint": folder_fingerprint(self.model),
                        "data": data_fingerprints(self.files, self.senteval), "rows": {}}
        keep_earlier_rows(self.results, output)
        return self


GROUPS = ("baseline", "main", "ablation")
"""The row groups: untrained baselines, the main rows (every seed), the ablations (first seed unless asked)."""


def reproduce_table(output: str | Path = "reproduce_results.json", *, model: str | None = None,
                    data_dir: str | Path | None = None, preset: str | None = None, seeds: Sequence[int] | None = None,
                    work_dir: str | Path | None = None, groups: Sequence[str] = ("baseline", "main"),
                    only: Sequence[str] | None = None, eval_steps: int | None = None,
                    overrides: Mapping[str, Any] | None = None, suffix: str = "",
                    all_seeds: bool = False) -> dict[str, Any]:
    """Run the rows of ``groups`` (or ``only`` the rows named) and return the result dict, written to
    ``output`` after each row (rows already there are kept).

    ``model``: the backbone (default all-MiniLM-L6-v2); ``data_dir``: the folder of wiki/, nli/ and the
    SentEval data (default ``$SIMCSE_DATA_DIR``); ``preset``: ``gpu`` or ``cpu`` (default: gpu with CUDA);
    ``seeds``: default 42 43 44 (gpu), 42 (cpu); ``work_dir``: where runs are written (default: a
    temporary folder); ``eval_steps``: the STS-B dev and checkpoint interval (:func:`eval_interval`);
    ``overrides``: train.py flags set in every trained row; ``suffix``: appended to the row names;
    ``all_seeds``: every seed for the ablation rows too. Bad arguments raise ``ValueError`` before any work.
    """
    unknown_groups = [g for g in groups if g not in GROUPS]
    if unknown_groups:
        raise ValueError(f"groups: no group {', '.join(map(repr, unknown_groups))}; choose from {', '.join(GROUPS)}")
    if eval_steps is not None and eval_steps < 1:
        raise ValueError(f"--eval_steps must be a positive integer, got {eval_steps}")
    overrides = dict(overrides or {})
    TrainConfig.from_flags(overrides)  # an unknown flag is named now, not after the baselines
    if only is not None:
        known = [*BASELINES, *MAIN_RUNS, *ablation_runs()]
        unknown = [name for name in only if name not in known]
        if unknown:
            raise ValueError(f"--only: no row named {', '.join(map(repr, unknown))}; rows are: {', '.join(map(repr, known))}")
    setup = RunSetup.create(output, f"simcse {__version__}", "simcse-reproduce-", model=model, data_dir=data_dir,
                            preset=preset, seeds=seeds, work_dir=work_dir)
    results = setup.results

    def save() -> None:
        Path(output).write_text(json.dumps(results, indent=2) + "\n")

    wanted = lambda name: only is None or name in only
    if "baseline" in groups:
        for name, pooler in BASELINES.items():
            if wanted(name):
                t = time.perf_counter()
                row = sts7(setup.model, setup.senteval, pooler=pooler, device=setup.device)
                results["rows"][name] = {"runs": [row], "seconds": round(time.perf_counter() - t, 1)}
                print(name, row, flush=True)
                save()
    runs: dict[str, tuple[str, dict[str, Any]]] = {}
    if "main" in groups:
        runs.update(MAIN_RUNS)
    if "ablation" in groups:
        runs.update(ablation_runs())
    interval = eval_interval(eval_steps, setup.max_steps)
    for name, (kind, params) in runs.items():
        if not wanted(name):
            continue
        params = dict(params, **overrides)
        row_name = name + suffix
        run_seeds = setup.seeds if (name in MAIN_RUNS or all_seeds) else setup.seeds[:1]
        rows = []
        for seed in run_seeds:
            t = time.perf_counter()
            out = train_one(setup.model, setup.files, kind, params, seed, setup.work / f"{len(results['rows'])}-{seed}",
                            setup.device, setup.max_steps, setup.senteval, interval)
            row = sts7(str(out), setup.senteval, device=setup.device)
            row["seed"] = seed
            row["train_eval_seconds"] = round(time.perf_counter() - t, 1)
            state_file = out / "trainer_state.json"
            state = json.loads(state_file.read_text()) if state_file.is_file() else {}
            row["best_step"] = state.get("best_global_step")
            row["dev_curve"] = [[h["step"], round(100 * h["eval_stsb_spearman"], 2)]
                                for h in state.get("log_history", []) if "eval_stsb_spearman" in h]
            rows.append(row)
            print(row_name, row, flush=True)
        results["rows"][row_name] = {"kind": kind, "params": params, "eval_steps": interval, "runs": rows}
        save()
    return results


def keep_earlier_rows(results: dict[str, Any], output: str | Path) -> None:
    """Rows already in ``output`` are kept (a run adds to the file); a warning names each recorded setting,
    version or fingerprint of the file that differs from this run's set-up."""
    if Path(output).is_file():
        earlier = load_result(output)
        for diff in differences(results, earlier, rows=False):
            print(f"warning: {output} already holds rows from another set-up ({diff}); its rows are kept, "
                  "and the file now records this run's set-up", file=sys.stderr)
        results["rows"] = earlier.get("rows", {})


def load_result(path: str | Path) -> dict[str, Any]:
    """A result file of ``simcse reproduce``; ``ValueError`` (``FileNotFoundError``) names a file that is not one."""
    try:
        res = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(f"result file {str(path)!r} does not exist") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path} is not JSON ({exc})") from None
    if not isinstance(res, dict) or not isinstance(res.get("rows"), dict):
        raise ValueError(f"{path} is not a result file of simcse reproduce (it has no 'rows')")
    for name, rec in res["rows"].items():
        runs = rec.get("runs") if isinstance(rec, dict) else None
        if not runs or any("Avg" not in r for r in runs):
            raise ValueError(f"row {name!r} of {path} has no runs with an 'Avg'")
    return res


def merge_files(paths: Sequence[str | Path], output: str | Path) -> dict[str, Any]:
    """``--merge``: the result files ``paths`` merged (:func:`merge_results`) into the new file ``output``."""
    if Path(output).exists():
        raise ValueError(f"--output {str(output)!r} exists; --merge writes a new file (its rows would replace the file's)")
    merged = merge_results([load_result(f) for f in paths], [str(f) for f in paths])
    Path(output).write_text(json.dumps(merged, indent=2) + "\n")
    return merged


def compare_files(result: str | Path, base: str | Path | None = None) -> str:
    """``--compare``: the :func:`compare` report of result file ``result`` against ``base`` (default: the
    sentence-transformers reference of issue 8)."""
    a = load_result(result)
    b = load_result(base) if base is not None else reference_result()
    return compare(a, b, (str(result), str(base) if base is not None else REFERENCE_NAME))


def merge_results(results: list[dict[str, Any]], names: Sequence[str] | None = None) -> dict[str, Any]:
    """One result dict from several: rows of the same name pool their runs (a seed appearing twice in a
    row, or rows trained with different settings, is an error that names the files)."""
    names = list(names or [f"result {i + 1}" for i in range(len(results))])
    out: dict[str, Any] = {"model": results[0].get("model"), "device": results[0].get("device"),
                           "preset": results[0].get("preset"), "merged_from": names, "rows": {}}
    for key in ("trainer", "environment", "model_fingerprint", "data"):
        if key in results[0]:
            out[key] = results[0][key]
    notes: list[str] = []
    seeds: set[int] = set()
    for res, name in zip(results, names):
        for key in ("device", "preset"):
            if res.get(key) != out[key]:
                raise ValueError(f"cannot merge {name}: {key} {res.get(key)!r}, but {names[0]} has {out[key]!r}")
        for key in ("model_fingerprint", "data"):
            diffs = _leaf_differences(res.get(key), results[0].get(key), key)
            if diffs:
                raise ValueError(f"cannot merge {name}: {diffs[0]}, against {names[0]}")
        notes += [f"{name}: {d}" for d in _leaf_differences(res.get("environment"), out.get("environment"), "environment")]
        for row_name, rec in res.get("rows", {}).items():
            have = out["rows"].get(row_name)
            if have is None:
                out["rows"][row_name] = {**rec, "runs": list(rec["runs"])}
                continue
            for key in ("kind", "params", "eval_steps"):
                if have.get(key) != rec.get(key):
                    raise ValueError(f"cannot merge row {row_name!r} of {name}: its {key} {rec.get(key)!r} differs "
                                     f"from {have.get(key)!r}")
            if "seed" not in rec["runs"][0]:  # untrained rows: one deterministic run, keep the first
                continue
            known = {r.get("seed") for r in have["runs"]}
            for run in rec["runs"]:
                if run.get("seed") in known:
                    raise ValueError(f"cannot merge row {row_name!r} of {name}: seed {run.get('seed')} is already there")
                have["runs"].append(run)
            have["runs"].sort(key=lambda r: r.get("seed", 0))
        seeds.update(r.get("seed") for rec in res.get("rows", {}).values() for r in rec["runs"] if "seed" in r)
    out["seeds"] = sorted(seeds)
    if notes:
        out["merge_notes"] = notes
    return out


def summarize(runs: list[dict[str, Any]]) -> dict[str, str]:
    out = {}
    for col in COLS + ["Avg"]:
        vals = [r[col] for r in runs]
        if len(vals) > 1:
            out[col] = f"{statistics.mean(vals):.2f} ± {statistics.stdev(vals):.2f}"
        else:
            out[col] = f"{vals[0]:.2f}"
    return out


def markdown_table(results: dict[str, Any]) -> str:
    lines = ["| run | " + " | ".join(COLS) + " | Avg |", "|---" * (len(COLS) + 2) + "|"]
    for name, rec in results["rows"].items():
        s = summarize(rec["runs"])
        lines.append(f"| {name} | " + " | ".join(s[c] for c in COLS + ["Avg"]) + " |")
    return "\n".join(lines)


# ---------------------------------------------------------------------- comparing result files
_UNSET = "<unset>"


def _fmt_value(v: Any) -> str:
    return "none" if v is None else "unset" if v is _UNSET else repr(v) if isinstance(v, str) else str(v)


def _leaf_differences(a: Any, b: Any, path: str) -> list[str]:
    """``"path: A vs B"`` for each leaf recorded on both sides with different values (a side that does
    not record a key is not a difference: older result files and the reference record less)."""
    if a is None or b is None:
        return []
    if isinstance(a, dict) and isinstance(b, dict):
        out: list[str] = []
        for key in a:
            if key in b:
                out += _leaf_differences(a[key], b[key], f"{path}.{key}")
        return out
    return [] if a == b else [f"{path}: {_fmt_value(a)} vs {_fmt_value(b)}"]


def _same_setting(a: Any, b: Any) -> bool:
    """Settings as written by hand (``--set temp=0.1``) or recorded as numbers/booleans compare by value."""
    if a is _UNSET or b is _UNSET:
        return a is b
    try:
        return float(a) == float(b)
    except (TypeError, ValueError):
        return str(a).lower() == str(b).lower()


def _same_device(a: Any, b: Any) -> bool:
    return a is None or b is None or str(a).lower() in str(b).lower() or str(b).lower() in str(a).lower()


def differences(a: dict[str, Any], b: dict[str, Any], rows: bool = True) -> list[str]:
    """What differs between two result files besides the scores: trainer, device, preset, library
    versions, model and data fingerprints, and (``rows``) each shared row's settings and seeds."""
    out: list[str] = []
    for key in ("trainer", "preset"):
        out += _leaf_differences(a.get(key), b.get(key), key)
    if not _same_device(a.get("device"), b.get("device")):
        out.append(f"device: {_fmt_value(a.get('device'))} vs {_fmt_value(b.get('device'))}")
    for key in ("environment", "model_fingerprint", "data"):
        out += _leaf_differences(a.get(key), b.get(key), key)
    if not rows:
        return out
    for name, base in _matched_rows(a, b):
        ra, rb = a["rows"][name], b["rows"][base]
        label = name if name == base else f"{name} (against {base})"
        if "params" in ra and "params" in rb:
            for key in sorted(set(ra["params"]) | set(rb["params"])):
                va, vb = ra["params"].get(key, _UNSET), rb["params"].get(key, _UNSET)
                if not _same_setting(va, vb):
                    out.append(f"row {label!r}: {key} {_fmt_value(va)} vs {_fmt_value(vb)}")
        if "eval_steps" in ra and "eval_steps" in rb and ra["eval_steps"] != rb["eval_steps"]:
            sel = lambda n: f"STS-B dev selection every {n} steps" if n else "no checkpoint selection"
            out.append(f"row {label!r}: {sel(ra['eval_steps'])} vs {sel(rb['eval_steps'])}")
        sa = {r["seed"] for r in ra["runs"] if "seed" in r}
        sb = {r["seed"] for r in rb["runs"] if "seed" in r}
        if sa and sb and sa != sb:
            out.append(f"row {label!r}: seeds {sorted(sa)} vs {sorted(sb)}")
    return out


def _matched_rows(a: dict[str, Any], b: dict[str, Any]) -> list[tuple[str, str]]:
    """(row of a, row of b) pairs: same name, or a variant row ``"name [variant]"`` against ``name``."""
    pairs = []
    for name in a["rows"]:
        if name in b["rows"]:
            pairs.append((name, name))
        elif " [" in name and name.split(" [", 1)[0] in b["rows"]:
            pairs.append((name, name.split(" [", 1)[0]))
    return pairs


def _paired(ra: list[dict[str, Any]], rb: list[dict[str, Any]], col: str) -> list[float]:
    """``col`` of ``ra`` minus ``col`` of ``rb`` for each seed both ran, in seed order."""
    by_seed = {r["seed"]: r[col] for r in rb if "seed" in r}
    return [r[col] - by_seed[r["seed"]] for r in sorted(ra, key=lambda r: r.get("seed", 0)) if r.get("seed") in by_seed]


def compare(a: dict[str, Any], b: dict[str, Any], names: tuple[str, str] = ("A", "B")) -> str:
    """A markdown report: for each row of ``a`` that ``b`` has (or whose base row ``b`` has), the Avg of
    both (mean ± sd over runs), their difference, the difference paired by seed where both ran the same
    seeds, and the difference of each task's mean; then every setting, version and fingerprint that
    differs (:func:`differences`)."""
    mean = lambda runs, col: statistics.mean(r[col] for r in runs)
    lines = [f"A = {names[0]}", f"B = {names[1]}", "",
             "| row (A) | A Avg | B Avg | Δ Avg | paired Δ Avg (seeds) | " + " | ".join(f"Δ {c}" for c in COLS) + " |",
             "|---" * (len(COLS) + 5) + "|"]
    matched = _matched_rows(a, b)
    for name, base in matched:
        ra, rb = a["rows"][name]["runs"], b["rows"][base]["runs"]
        diffs = _paired(ra, rb, "Avg")
        if len(diffs) > 1:
            paired = f"{statistics.mean(diffs):+.2f} ± {statistics.stdev(diffs):.2f} ({len(diffs)})"
        elif diffs:
            paired = f"{diffs[0]:+.2f} (1)"
        else:
            paired = "–"
        label = name if name == base else f"{name} (vs {base})"
        lines.append(f"| {label} | {summarize(ra)['Avg']} | {summarize(rb)['Avg']} | "
                     f"{mean(ra, 'Avg') - mean(rb, 'Avg'):+.2f} | {paired} | "
                     + " | ".join(f"{mean(ra, c) - mean(rb, c):+.2f}" for c in COLS) + " |")
    only_a = [n for n in a["rows"] if n not in {m for m, _ in matched}]
    only_b = [n for n in b["rows"] if n not in {m for _, m in matched}]
    if only_a:
        lines += ["", "Only in A: " + "; ".join(only_a)]
    if only_b:
        lines += ["", "Only in B: " + "; ".join(only_b)]
    diffs = differences(a, b)
    lines += ["", "What differs (A vs B):" if diffs else "What differs: nothing that both files record."]
    lines += [f"- {d}" for d in diffs]
    unrecorded = [k for k in ("environment", "model_fingerprint", "data") if (k in a) != (k in b)]
    if unrecorded:
        lines.append(f"- recorded in one file only (not compared): {', '.join(unrecorded)}")
    return "\n".join(lines)

