"""The SimCSE paper's alignment-uniformity analysis (Fig. 2): where checkpoints of a training run lie.

    # checkpoints of a training run (checkpoint-* folders, then the final model), with its start point
    python examples/alignment_uniformity.py --run_dir result/my-unsup-simcse --start default
    # any list of models
    python examples/alignment_uniformity.py default path/to/model-a path/to/model-b --output plot.png
    # an existing --output / --json file is replaced only with --overwrite

l_align = E ||f(x) - f(x+)||^2 over STS-B pairs scored above 4 (lower: positives closer);
l_uniform = log E exp(-2 ||f(x) - f(y)||^2) over all STS-B sentences (lower: spread more evenly).
The plot has x = l_uniform, y = l_align and an arrow from each model to the next.
STS-B comes from --data_dir / $SIMCSE_DATA_DIR (SentEval layout).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
from pathlib import Path

from simcse import SimCSE, default_model_path
from simcse.experiments.analysis import align_uniform, plot_align_uniform, stsb_analysis_data
from simcse.outputs import output_problem


def run_checkpoints(run_dir: Path) -> list[Path]:
    """``run_dir/checkpoint-N`` folders by step, then ``run_dir`` itself when it holds the final model."""
    if not run_dir.is_dir():
        raise FileNotFoundError(f"--run_dir {str(run_dir)!r} is not a folder")
    ckpts = sorted((p for p in run_dir.glob("checkpoint-*") if re.fullmatch(r"checkpoint-\d+", p.name)),
                   key=lambda p: int(p.name.split("-")[1]))
    final = [run_dir] if (run_dir / "config.json").is_file() else []
    if not ckpts and not final:
        raise FileNotFoundError(f"--run_dir {str(run_dir)!r} holds no checkpoint-* folder and no model")
    if ckpts and final and same_weights(ckpts[-1], run_dir):
        return ckpts  # the final model is the last checkpoint: one point, not two
    return ckpts + final


def same_weights(a: Path, b: Path) -> bool:
    """Whether two model folders hold byte-identical weight files."""
    def digest(folder: Path) -> list[tuple[str, str]]:
        files = sorted(folder.glob("*.safetensors")) or sorted(folder.glob("*.bin"))
        return [(f.name, hashlib.sha256(f.read_bytes()).hexdigest()) for f in files if f.name != "training_args.bin"]

    da = digest(a)
    return bool(da) and da == digest(b)


def label_of(path: Path, run_dir: Path | None) -> str:
    """"step N" for checkpoints, "final" for the run's model, else the folder name."""
    if path.name == "model" and path == default_model_path():
        return "all-MiniLM-L6-v2"
    if re.fullmatch(r"checkpoint-\d+", path.name):
        return "step " + path.name.split("-")[1]
    if run_dir is not None and path == run_dir:
        return "final"
    return path.name


def main(argv: list[str] | None = None) -> int:
    """Measure each model, print a table, write the plot (and JSON with --json)."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("models", nargs="*", help='model folders in order ("default": all-MiniLM-L6-v2)')
    p.add_argument("--run_dir", default=None, help="a training run's output_dir: its checkpoint-* folders, in step order")
    p.add_argument("--start", default=None, help='a model drawn first, e.g. the run\'s starting model ("default")')
    p.add_argument("--data_dir", default=None, help="SentEval data directory (default: $SIMCSE_DATA_DIR)")
    p.add_argument("--split", default="dev", choices=("train", "dev", "test"), help="STS-B split (default: dev)")
    p.add_argument("--min_score", type=float, default=4.0, help="pairs scored above this are positives")
    p.add_argument("--max_pairs", type=int, default=None, help="sample at most this many positive pairs")
    p.add_argument("--max_sentences", type=int, default=None, help="sample at most this many sentences for uniformity")
    p.add_argument("--device", default=None)
    p.add_argument("--output", default="align_uniform.png",
                   help="the plot: .png (added when the name has no suffix), .pdf, .svg or another image format")
    p.add_argument("--json", default=None, help="also write the numbers to this JSON file")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --output / --json file")
    args = p.parse_args(argv)

    # Both files are checked before any model is measured.
    from matplotlib.backend_bases import FigureCanvasBase  # the [examples] extra: --help works without it

    plot = Path(args.output)
    if not plot.suffix:
        plot = plot.with_name(plot.name + ".png")
    formats = FigureCanvasBase.get_supported_filetypes()
    if plot.suffix[1:].lower() not in formats:
        p.error(f"--output {args.output!r}: {plot.suffix!r} is not an image format; use one of "
                f"{', '.join('.' + f for f in sorted(formats))}")
    outputs = [("--output", plot, "align_uniform.png")] + ([("--json", Path(args.json), "points.json")] if args.json else [])
    if args.json and Path(args.json).resolve() == plot.resolve():
        p.error(f"--json {args.json!r} is the --output plot; give two files")
    for flag, path, example in outputs:
        problem = output_problem(path, args.overwrite, example=example, flag=flag)
        if problem:
            p.error(problem)

    def resolve(name: str) -> Path:
        path = default_model_path() if name == "default" else Path(name)
        if not path.exists():
            p.error(f"model folder {name!r} does not exist")
        return path

    run_dir = Path(args.run_dir) if args.run_dir else None
    paths = ([resolve(args.start)] if args.start else []) + [resolve(m) for m in args.models]
    if run_dir is not None:
        try:
            paths += run_checkpoints(run_dir)
        except FileNotFoundError as exc:  # not a folder, or no checkpoint and no model in it
            p.error(str(exc))
    if not paths:
        p.error("give model folders and/or --run_dir")

    try:
        data = stsb_analysis_data(args.data_dir, args.split, args.min_score, args.max_pairs, args.max_sentences)
    except (ValueError, FileNotFoundError) as exc:  # a bad --max_pairs / --max_sentences, no STS-B data
        p.error(str(exc))
    print(f"STS-B {args.split}: {len(data.pos_a)} positive pairs (score > {args.min_score}), "
          f"{len(data.sentences)} sentences")
    points = []
    print(f"{'model':<28} {'l_align':>8} {'l_uniform':>10}")
    for path in paths:
        metrics = align_uniform(SimCSE(str(path), device=args.device), data)
        points.append({"label": label_of(path, run_dir), "model": str(path), **metrics})
        print(f"{points[-1]['label']:<28} {metrics['align']:8.4f} {metrics['uniform']:10.4f}")
    title = f"l_align vs l_uniform ({run_dir.name if run_dir else 'models'}, STS-B {args.split})"
    plot.parent.mkdir(parents=True, exist_ok=True)
    plot_align_uniform(points, plot, title=title)
    print(f"plot: {plot}")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(points, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
