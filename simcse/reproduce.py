"""The reproduction table on all-MiniLM-L6-v2: no training vs our unsupervised / supervised SimCSE.

    simcse reproduce                       # GPU: the five rows x 3 seeds (minutes on one H100)
    simcse reproduce --groups ablation     # temperature, pooler, batch size, hard-negative weight
    simcse reproduce --preset cpu          # a reduced form for a 2-core CPU (1 seed, short runs)
    simcse reproduce --merge a.json b.json --output all.json   # combine seeds run separately

Data (from the data directory, ``--data_dir`` or ``$SIMCSE_DATA_DIR``): the wiki1m head
(``wiki/wiki1m_for_simcse*.txt``) for unsupervised training and the SNLI dev+test triplets
(premise, entailment, contradiction; built from ``nli/snli-senteval``) for supervised training.
Recipe (issue 8): temperature 0.05, max length 32 for training and 256 for evaluation;
unsupervised batch 64, lr 3e-5, 1 epoch; supervised batch 128, lr 5e-5, 3 epochs; bf16 on GPU;
STS-B dev every 25 steps with best-checkpoint selection (SimCSE selects on STS-B dev every 125 steps of a 1M-sentence epoch; these runs are 138-187 steps long). Evaluation: STS7
in SentEval's 'all' setting, Spearman x 100, with our engine.
"""
from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Sequence

STS7 = ["STS12", "STS13", "STS14", "STS15", "STS16", "STSBenchmark", "SICKRelatedness"]
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


def _flags(params: dict[str, Any]) -> list[str]:
    out: list[str] = []
    for k, v in params.items():
        if isinstance(v, bool):
            if v:
                out.append(f"--{k}")
        elif isinstance(v, (list, tuple)):
            out += [f"--{k}", *map(str, v)]
        else:
            out += [f"--{k}", str(v)]
    return out


def prepare_data(data_dir: Path, work: Path, limit: int | None) -> dict[str, Path]:
    """The unsupervised sentence file, the supervised triplet CSV and a pairs-only CSV."""
    import csv

    from .data import build_nli_triplets

    wiki = sorted((data_dir / "wiki").glob("wiki1m_for_simcse*.txt"))
    if not wiki:
        raise FileNotFoundError(f"no wiki/wiki1m_for_simcse*.txt under {data_dir}")
    unsup = work / "wiki.txt"
    lines = wiki[0].read_text(encoding="utf-8").splitlines()
    unsup.write_text("\n".join(lines[:limit] if limit else lines) + "\n", encoding="utf-8")
    sup = work / "snli_triplets.csv"
    n = build_nli_triplets([data_dir / "nli" / "snli-senteval"], sup, splits=("dev", "test"))
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


def sts7(model: Any, data_dir: Path, pooler: str | None = None, device: str | None = None) -> dict[str, float]:
    from .evaluation import evaluate

    res = evaluate(model, tasks=STS7, mode="test", data_dir=data_dir, max_length=256, pooler=pooler,
                   device=device, batch_size=256)
    row = {col: res["scores"][task] for col, task in zip(COLS, STS7)}
    row["Avg"] = round(sum(row.values()) / len(row), 2)
    return row


def train_one(model: str, files: dict[str, Path], kind: str, params: dict[str, Any], seed: int, out: Path,
              device: str, max_steps: int | None, data_dir: Path, eval_steps: int = 125) -> Path:
    from .train_cli import parse_args, run

    argv = [
        "--model_name_or_path", model, "--train_file", str(files[kind]), "--output_dir", str(out),
        "--overwrite_output_dir", "--max_seq_length", "32", "--seed", str(seed), "--data_dir", str(data_dir),
        "--eval_strategy", "steps", "--eval_steps", str(eval_steps), "--save_strategy", "steps", "--save_steps", str(eval_steps),
        "--save_total_limit", "2", "--metric_for_best_model", "stsb_spearman", "--load_best_model_at_end",
        "--greater_is_better", "true", "--logging_steps", "25", "--report_to", "none", "--disable_tqdm", "true",
        "--do_train", *(["--bf16"] if device == "cuda" else ["--use_cpu"]), *_flags(params),
    ]
    if max_steps:
        argv += ["--max_steps", str(max_steps), "--eval_steps", str(max(1, max_steps // 2)),
                 "--save_steps", str(max(1, max_steps // 2))]
    run(*parse_args(argv))
    return out


def main(argv: Sequence[str] | None = None) -> int:
    import torch

    p = argparse.ArgumentParser(prog="simcse reproduce", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=None, help="backbone (default: all-MiniLM-L6-v2)")
    p.add_argument("--data_dir", default=None, help="folder holding wiki/, nli/ and SentEval-downstream/ (default: $SIMCSE_DATA_DIR)")
    p.add_argument("--preset", choices=("gpu", "cpu"), default="gpu" if torch.cuda.is_available() else "cpu")
    p.add_argument("--groups", nargs="+", choices=("baseline", "main", "ablation"), default=["baseline", "main"])
    p.add_argument("--seeds", type=int, nargs="+", default=None, help="default: 42 43 44 (gpu), 42 (cpu)")
    p.add_argument("--only", nargs="+", default=None, help="run only these row names")
    p.add_argument("--output", default="reproduce_results.json", help="JSON file for every number")
    p.add_argument("--work_dir", default=None, help="where runs are written (default: a temporary folder)")
    p.add_argument("--eval_steps", type=int, default=25,
                   help="STS-B dev evaluation (and checkpoint) interval; 25 gives short runs a real choice (SimCSE used 125 on 1M sentences)")
    p.add_argument("--set", nargs="+", default=[], metavar="FLAG=VALUE",
                   help="override a training flag in every trained run, e.g. --set mlp_init=pooler")
    p.add_argument("--suffix", default="", help="appended to row names (to keep variants apart in one JSON)")
    p.add_argument("--all_seeds", action="store_true",
                   help="run every seed for ablation rows too (default: ablation rows use the first seed only)")
    p.add_argument("--merge", nargs="+", default=None, metavar="JSON",
                   help="no training: combine the runs of same-named rows from these result files (e.g. seeds run on "
                        "different machines) into --output, and print the table")
    args = p.parse_args(argv)
    if args.merge:
        merged = merge_results([json.loads(Path(f).read_text()) for f in args.merge], args.merge)
        Path(args.output).write_text(json.dumps(merged, indent=2) + "\n")
        print(markdown_table(merged))
        return 0

    import os

    from .encoder import resolve_model_path
    from .evaluation.datadir import resolve_data_dir

    data_root = Path(args.data_dir or os.environ.get("SIMCSE_DATA_DIR") or "SentEval/data/downstream")
    senteval = resolve_data_dir(data_root)
    model = str(resolve_model_path(args.model))
    device = "cuda" if args.preset == "gpu" else "cpu"
    seeds = args.seeds or ([42, 43, 44] if args.preset == "gpu" else [42])
    max_steps = None if args.preset == "gpu" else 30
    limit = None if args.preset == "gpu" else 30 * 128
    work = Path(args.work_dir or tempfile.mkdtemp(prefix="simcse-reproduce-"))
    work.mkdir(parents=True, exist_ok=True)
    files = prepare_data(data_root, work, limit)
    results: dict[str, Any] = {"model": model, "device": torch.cuda.get_device_name(0) if device == "cuda" else "cpu",
                               "preset": args.preset, "seeds": seeds, "rows": {}}
    if Path(args.output).is_file():
        results["rows"] = json.loads(Path(args.output).read_text()).get("rows", {})

    def save() -> None:
        Path(args.output).write_text(json.dumps(results, indent=2) + "\n")

    wanted = lambda name: args.only is None or name in args.only
    if "baseline" in args.groups:
        for name, pooler in BASELINES.items():
            if wanted(name):
                t = time.perf_counter()
                row = sts7(model, senteval, pooler=pooler, device=device)
                results["rows"][name] = {"runs": [row], "seconds": round(time.perf_counter() - t, 1)}
                print(name, row, flush=True)
                save()
    runs: dict[str, tuple[str, dict[str, Any]]] = {}
    if "main" in args.groups:
        runs.update(MAIN_RUNS)
    if "ablation" in args.groups:
        runs.update(ablation_runs())
    overrides: dict[str, Any] = {}
    for item in args.set:
        if "=" not in item:
            raise SystemExit(f"simcse reproduce: --set expects FLAG=VALUE, got {item!r}")
        key, value = item.split("=", 1)
        overrides[key.lstrip("-")] = value
    for name, (kind, params) in runs.items():
        if not wanted(name):
            continue
        params = dict(params, **overrides)
        row_name = name + args.suffix
        run_seeds = seeds if (name in MAIN_RUNS or args.all_seeds) else seeds[:1]
        rows = []
        for seed in run_seeds:
            t = time.perf_counter()
            out = train_one(model, files, kind, params, seed, work / f"{len(results['rows'])}-{seed}", device,
                            max_steps, senteval, args.eval_steps)
            row = sts7(str(out), senteval, device=device)
            row["seed"] = seed
            row["train_eval_seconds"] = round(time.perf_counter() - t, 1)
            state_file = out / "trainer_state.json"
            state = json.loads(state_file.read_text()) if state_file.is_file() else {}
            row["best_step"] = state.get("best_global_step")
            row["dev_curve"] = [[h["step"], round(100 * h["eval_stsb_spearman"], 2)]
                                for h in state.get("log_history", []) if "eval_stsb_spearman" in h]
            rows.append(row)
            print(row_name, row, flush=True)
        results["rows"][row_name] = {"kind": kind, "params": params, "eval_steps": args.eval_steps, "runs": rows}
        save()
    print(markdown_table(results))
    return 0


def merge_results(results: list[dict[str, Any]], names: Sequence[str] | None = None) -> dict[str, Any]:
    """One result dict from several: rows of the same name pool their runs (a seed appearing twice in a
    row, or rows trained with different settings, is an error that names the files)."""
    names = list(names or [f"result {i + 1}" for i in range(len(results))])
    out: dict[str, Any] = {"model": results[0].get("model"), "device": results[0].get("device"),
                           "preset": results[0].get("preset"), "merged_from": names, "rows": {}}
    seeds: set[int] = set()
    for res, name in zip(results, names):
        for key in ("device", "preset"):
            if res.get(key) != out[key]:
                raise ValueError(f"cannot merge {name}: {key} {res.get(key)!r}, but {names[0]} has {out[key]!r}")
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


if __name__ == "__main__":
    sys.exit(main())
