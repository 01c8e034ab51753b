"""Peak host memory of ``SimCSE.build_index(path)`` (streamed) against ``build_index(list)`` (the lines held
in a Python list), for corpora of growing size: the streamed form must not grow with the texts.

    python scripts/make_bench_corpus.py 400000 /scratch/c400k.txt
    python -m bench.build_index_memory /scratch/c400k.txt --sizes 100000 400000 --model PATH [--device cpu]

Each measurement runs in a fresh child process and reports its VmHWM (peak resident memory) after the
call, minus the VmHWM it had after loading the model, so the model and torch are not counted. The
index is the exact torch index (``use_faiss=False``), whose vectors take ``4 * dim`` bytes a row in
both forms; the difference between the forms is what holding the texts costs.
"""
from __future__ import annotations

import argparse
import itertools
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.common import vm_hwm_mib



def child(model: str, device: str, corpus: str, form: str) -> None:
    from simcse import SimCSE

    m = SimCSE(model, device=device)
    m.encode(["warm up the model and its buffers"])
    base = vm_hwm_mib()
    if form == "path":
        m.build_index(corpus, use_faiss=False, batch_size=256)
    else:
        with open(corpus, encoding="utf-8") as fh:
            lines = [s.strip() for s in fh if s.strip()]
        m.build_index(lines, use_faiss=False, batch_size=256)
    print(json.dumps({"rows": m.index.ntotal, "peak_mib_over_model": round(vm_hwm_mib() - base, 1)}))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("corpus", type=Path, help="file from scripts/make_bench_corpus.py (its first lines are used)")
    p.add_argument("--sizes", type=int, nargs="+", default=[100000, 400000])
    p.add_argument("--model", required=True)
    p.add_argument("--device", default="cpu")
    p.add_argument("--json", type=Path)
    p.add_argument("--_child", nargs=2, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args._child:
        child(args.model, args.device, *args._child)
        return 0
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.sizes:
            part = Path(tmp) / f"c{n}.txt"
            with open(args.corpus, encoding="utf-8") as src, open(part, "w", encoding="utf-8") as dst:
                dst.writelines(itertools.islice(src, n))
            for form in ("path", "list"):
                out = subprocess.run([sys.executable, "-m", "bench.build_index_memory", str(args.corpus), "--model",
                                      args.model, "--device", args.device, "--_child", str(part), form],
                                     capture_output=True, text=True, check=True)
                row = {"lines": n, "form": form, **json.loads(out.stdout.strip().splitlines()[-1]),
                       "text_mib": round(part.stat().st_size / 2**20, 1)}
                rows.append(row)
                print(json.dumps(row), flush=True)
    if args.json:
        args.json.write_text(json.dumps({"benchmark": "build_index_memory", "model": args.model, "rows": rows}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
