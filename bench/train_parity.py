"""Loss parity of the fast training path: eager vs torch.compile (default and reduce-overhead).

    python -m bench.train_parity --device cuda

A randomly initialised BERT-base with dropout switched off (so every path sees the same
function), the same Wikipedia batches (64 sentences, two views, padded to 32 tokens), bf16
autocast and fused AdamW at lr 3e-5: the loss of each of the first steps must agree between the
eager and the compiled paths within bf16 tolerance.
"""
from __future__ import annotations

import argparse
import copy
import tempfile
from pathlib import Path

import torch

from bench.common import random_bert_base, table, wiki_sentences, write_result
from simcse.encoder import SentenceEncoder
from simcse.training.loss import InfoNCELoss
from simcse.training.trainer import ContrastiveModel


def losses(model, batches, device: str, mode: str | None) -> list[float]:
    model = copy.deepcopy(model).to(device).train()
    opt = torch.optim.AdamW(model.parameters(), lr=3e-5, fused=device.startswith("cuda"))
    fn = model if mode is None else torch.compile(model, mode=None if mode == "default" else mode)
    out = []
    for batch in batches:
        with torch.autocast(torch.device(device).type, dtype=torch.bfloat16, enabled=device.startswith("cuda")):
            loss = fn(**{k: v.to(device) for k, v in batch.items()})["loss"]
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        out.append(float(loss.detach()))
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--steps", type=int, default=8)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--out_dir", default=None)
    args = p.parse_args(argv)
    folder = random_bert_base(Path(tempfile.mkdtemp()) / "bert", pooler="cls")
    enc = SentenceEncoder.from_pretrained(str(folder), pooler_type="cls", mlp_only_train=True)
    enc.backbone.config.hidden_dropout_prob = 0.0
    for m in enc.modules():
        if isinstance(m, torch.nn.Dropout):
            m.p = 0.0
    enc.backbone.config.attention_probs_dropout_prob = 0.0
    model = ContrastiveModel(enc, InfoNCELoss(0.05))
    sents, _ = wiki_sentences(args.batch * args.steps)
    batches = []
    for i in range(args.steps):
        ids = enc.tokenize_ids(sents[i * args.batch:(i + 1) * args.batch], 32)
        b = enc.collate([x for x in ids for _ in range(2)], pad_to=32)
        batches.append({k: v.view(args.batch, 2, -1) for k, v in b.items()})
    ref = losses(model, batches, args.device, None)
    rows = [{"path": "eager", **{f"step{i + 1}": v for i, v in enumerate(ref)}, "max_rel_diff": 0.0}]
    modes = ["default", "reduce-overhead"] if args.device.startswith("cuda") else ["default"]
    for mode in modes:
        got = losses(model, batches, args.device, mode)
        rel = max(abs(a - b) / max(abs(a), 1e-6) for a, b in zip(got, ref))
        rows.append({"path": f"compile {mode}", **{f"step{i + 1}": v for i, v in enumerate(got)}, "max_rel_diff": rel})
    path = write_result(f"train_parity_{args.device.split(':')[0]}", {"rows": rows, "batch": args.batch, "steps": args.steps},
                        Path(args.out_dir) if args.out_dir else None)
    print(table(rows, ["path"] + [f"step{i + 1}" for i in range(min(args.steps, 5))] + ["max_rel_diff"]))
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
