"""Multi-GPU (DDP) check and scaling: ``bash bench/ddp.sh`` runs it on a machine with 2 GPUs.

    python -m bench.ddp prepare WORK     # random BERT-base folders (dropout off / on), wiki + triplet files
    python -m bench.ddp report WORK OUT  # collect the runs' trainer_state.json into OUT/ddp_cuda.json

Parity: unsupervised SimCSE on a randomly initialised BERT-base with dropout off (so both runs
compute the same function), bf16: the loss of each of the first steps with 2 GPUs x 64 must equal
1 GPU x 128 on the same data order within bf16 tolerance, which holds only if the negatives are
gathered across GPUs with correct gradients. Scaling: sentences/s of ``train.py`` at 64 per GPU,
1 GPU against 2 GPUs (dropout on, eager), and again at 256 per GPU. The supervised (triplet) and MLM-auxiliary variants
must run under DDP.
"""
from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

from bench.common import random_bert_base, wiki_sentences, write_result


def prepare(work: Path) -> None:
    work.mkdir(parents=True, exist_ok=True)
    for name, p in (("nodrop", 0.0), ("drop", 0.1)):
        random_bert_base(work / name, pooler="cls", hidden_dropout_prob=p, attention_probs_dropout_prob=p)
    sents, _ = wiki_sentences(60_000)
    (work / "wiki.txt").write_text("\n".join(sents) + "\n", encoding="utf-8")
    with open(work / "triplets.csv", "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["sent0", "sent1", "hard_neg"])
        w.writerows([sents[i], sents[i + 1], sents[i + 2]] for i in range(0, 30_000, 3))


def _state(run: Path) -> dict:
    return json.loads((run / "trainer_state.json").read_text())


def report(work: Path, out: Path) -> None:
    def losses(name: str) -> dict[int, float]:
        return {h["step"]: h["loss"] for h in _state(work / name)["log_history"] if "loss" in h}

    one, two = losses("parity_1gpu"), losses("parity_2gpu")
    steps = sorted(set(one) & set(two))
    parity = [{"step": s, "loss_1gpu_b128": one[s], "loss_2gpu_b64x2": two[s],
               "rel_diff": abs(one[s] - two[s]) / abs(one[s])} for s in steps]

    def throughput(name: str) -> float:
        logs = [h for h in _state(work / name)["log_history"] if "sentences_per_second" in h]
        tail = logs[1:] or logs  # the first window includes warm-up
        return sum(float(h["sentences_per_second"]) for h in tail) / len(tail)

    t1, t2 = throughput("speed_1gpu"), throughput("speed_2gpu")
    big = {}
    if (work / "speed256_1gpu").is_dir() and (work / "speed256_2gpu").is_dir():
        b1, b2 = throughput("speed256_1gpu"), throughput("speed256_2gpu")
        big = {"sentences_per_second_1gpu": b1, "sentences_per_second_2gpu": b2, "speedup": b2 / b1,
               "scaling_efficiency": b2 / (2 * b1)}
    variants = {name: {"steps": _state(work / name)["global_step"], "last_loss": list(losses(name).values())[-1]}
                for name in ("sup_2gpu", "mlm_2gpu")}
    res = {"parity": parity, "max_rel_diff": max(r["rel_diff"] for r in parity),
           "throughput": {"sentences_per_second_1gpu": t1, "sentences_per_second_2gpu": t2,
                          "speedup": t2 / t1, "scaling_efficiency": t2 / (2 * t1)},
           "throughput_per_gpu_batch_256": big, "variants": variants}
    path = write_result("ddp_cuda", res, out)
    print(json.dumps(res, indent=1))
    print(f"wrote {path}")


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "prepare":
        prepare(Path(sys.argv[2]))
    elif cmd == "report":
        report(Path(sys.argv[2]), Path(sys.argv[3]))
    else:
        raise SystemExit("usage: python -m bench.ddp prepare WORK | report WORK OUT")
