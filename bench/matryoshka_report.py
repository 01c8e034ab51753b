"""STS7 Avg at each embedding size, with and without Matryoshka training (all-MiniLM-L6-v2).

    python -m bench.matryoshka_report [--model PATH] [--device cuda]

Both runs are unsupervised SimCSE on the wiki1m head with the reproduction recipe (mean pooling,
batch 64, lr 3e-5, 1 epoch, temperature 0.05, max length 32, seed 42); one adds
``--matryoshka_dims 384 256 128 64``. Each model (and the untrained one) is evaluated on STS7
(SentEval 'all', Spearman x 100, max length 256) with its embeddings truncated to the first k
dimensions.
"""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import torch

from bench.common import table, write_result

DIMS = [384, 256, 128, 64]


def main(argv: list[str] | None = None) -> int:
    from simcse import SimCSE
    from simcse.encoder import resolve_model_path
    from simcse.evaluation import STS_TASKS, evaluate
    from simcse.evaluation.datadir import resolve_data_dir
    from simcse.experiments.reproduce import UNSUP, prepare_data, train_one

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=None)
    p.add_argument("--data_dir", default=None, help="folder with wiki/ and SentEval-downstream/ (default $SIMCSE_DATA_DIR)")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--max_steps", type=int, default=None, help="shorter runs (CPU smoke test)")
    p.add_argument("--out_dir", default=None)
    args = p.parse_args(argv)
    import os

    data_root = Path(args.data_dir or os.environ["SIMCSE_DATA_DIR"])
    senteval = resolve_data_dir(data_root)
    model = str(resolve_model_path(args.model))
    work = Path(tempfile.mkdtemp(prefix="simcse-matryoshka-"))
    files = prepare_data(data_root, work, None if not args.max_steps else args.max_steps * 64)
    params = dict(UNSUP, pooler_type="avg")
    models = {"no training": model}
    models["SimCSE"] = str(train_one(model, files, "unsup", params, 42, work / "plain", args.device, args.max_steps, senteval))
    models["SimCSE + Matryoshka"] = str(train_one(
        model, files, "unsup", dict(params, matryoshka_dims=[384, 256, 128, 64]), 42, work / "mrl", args.device,
        args.max_steps, senteval))
    rows = []
    for name, path in models.items():
        m = SimCSE(path, device=args.device)
        row: dict = {"model": name}
        for k in DIMS:
            fn = lambda s, k=k: m.encode(s, batch_size=256, max_length=256, normalize_to_unit=False,
                                         return_numpy=True, truncate_dim=None if k == m.encoder.dim else k, dtype=torch.float32)
            res = evaluate(fn, tasks=list(STS_TASKS), mode="test", data_dir=senteval)
            row[f"dim {k}"] = round(sum(res["scores"].values()) / len(STS_TASKS), 2)
        rows.append(row)
        print(row, flush=True)
    path = write_result("matryoshka_" + args.device.split(":")[0], {"rows": rows, "dims": DIMS},
                        Path(args.out_dir) if args.out_dir else None)
    print(table(rows, ["model"] + [f"dim {k}" for k in DIMS]))
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
