"""``simcse mteb`` scores against mteb's own ``SentenceTransformerEncoderWrapper`` on the same model
folder, on every MTEB task runnable offline (STS12-16, STSBenchmark, SICK-R, Banking77Classification,
AmazonCounterfactualClassification), without and with prompts stored in the folder:

    SIMCSE_DATA_DIR=../shared/data HF_HUB_OFFLINE=1 python -m bench.mteb_parity [--tmp DIR]

The model is a small random BERT (2 layers, 32 wide, bert-base-uncased vocabulary; the weights do not
matter for the comparison, and it keeps the run to minutes on a CPU). Both sides evaluate the same
task objects (filled from the local data folder); the main score of the test split is compared.
Writes ``bench/results/mteb_parity.json``.
"""
from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from bench.common import random_bert_base, table, write_result

PROMPTS = {"STS": "Retrieve semantically similar text: ", "Classification": "Classify: ", "query": "query: "}


def main() -> None:
    import mteb
    from mteb.models.sentence_transformer_wrapper import SentenceTransformerEncoderWrapper

    from simcse.evaluation.mteb import LOCAL_TASKS, load_tasks, run
    from simcse.formats.sentence_transformers import write_prompts

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tmp", default=None, help="scratch folder (default: a temporary one)")
    args = p.parse_args()
    tmp = Path(args.tmp or tempfile.mkdtemp())
    plain = random_bert_base(tmp / "plain", hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                             intermediate_size=64, max_position_embeddings=128)
    prompted = tmp / "prompted"
    if not prompted.exists():
        shutil.copytree(plain, prompted)
    write_prompts(prompted, PROMPTS)
    rows = []
    for kind, folder in (("no prompts", plain), ("folder prompts", prompted)):
        t0 = time.perf_counter()
        ours = run(str(folder), LOCAL_TASKS, tmp / f"out-{folder.name}", batch_size=64)["scores"]
        t1 = time.perf_counter()
        res = mteb.evaluate(SentenceTransformerEncoderWrapper(str(folder), device="cpu"), load_tasks(LOCAL_TASKS),
                            cache=None, show_progress_bar=False, encode_kwargs={"batch_size": 64})
        t2 = time.perf_counter()
        theirs = {r.task_name: sum(b["main_score"] for b in r.scores["test"]) / len(r.scores["test"])
                  for r in res.task_results}
        for task in LOCAL_TASKS:
            rows.append({"prompts": kind, "task": task, "ours": round(100 * ours[task]["test"], 4),
                         "mteb_st_wrapper": round(100 * theirs[task], 4),
                         "abs_diff": abs(ours[task]["test"] - theirs[task])})
        print(f"{kind}: ours {t1 - t0:.0f} s, mteb's wrapper {t2 - t1:.0f} s", flush=True)
    print(table(rows, ["prompts", "task", "ours", "mteb_st_wrapper", "abs_diff"]))
    worst = max(r["abs_diff"] for r in rows)
    print(f"max |difference|: {worst:.2e}")
    print(write_result("mteb_parity", {"prompts": PROMPTS, "rows": rows, "max_abs_diff": worst}))


if __name__ == "__main__":
    main()
