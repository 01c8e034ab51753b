"""Decoder-LLM training throughput: a ~1B-parameter Llama-style config (random weights) with LoRA,
gradient checkpointing and gradient caching, batch 256, through ``train.py``.

    python -m bench.decoder_lora --device cuda

The model: hidden 2048, 21 layers, 16 heads (4 key-value heads), MLP 5632, vocabulary of the
bert-base-uncased tokenizer (the only tokenizer on these machines): about 1.01B parameters, saved
in bf16. Training: unsupervised SimCSE on Wikipedia sentences with the PromptEOL template, last-token
pooling, LoRA r=16 on q/k/v/o projections, bf16, max length 32 (+ the prompt), batch 256 in chunks
of 64 sequences. Throughput: the median of the logged windows after the first.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from bench.common import table, wiki_sentences, write_result

ROOT = Path(__file__).resolve().parents[1]


def make_model(folder: Path, hidden: int, layers: int, inter: int) -> tuple[Path, int]:
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from simcse.encoder import default_model_path

    tok = AutoTokenizer.from_pretrained(os.environ.get("MINILM") or str(default_model_path()))
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=16,
                      num_key_value_heads=4, intermediate_size=inter, max_position_embeddings=256,
                      pad_token_id=tok.pad_token_id, bos_token_id=tok.cls_token_id, eos_token_id=tok.sep_token_id,
                      torch_dtype="bfloat16")
    with torch.device("cuda" if torch.cuda.is_available() else "cpu"):
        model = LlamaForCausalLM(cfg).to(torch.bfloat16)
    n = sum(p.numel() for p in model.model.parameters())
    model.model.save_pretrained(str(folder))
    tok.save_pretrained(str(folder))
    del model
    return folder, n


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--chunk", type=int, default=64)
    p.add_argument("--steps", type=int, default=12)
    p.add_argument("--tiny", action="store_true", help="a small config for a CPU smoke test")
    p.add_argument("--out_dir", default=None)
    args = p.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="simcse-llm-"))
    dims = (64, 2, 128) if args.tiny else (2048, 21, 5632)
    folder, n_params = make_model(tmp / "llm", *dims)
    sents, source = wiki_sentences(args.batch * args.steps)
    train = tmp / "wiki.txt"
    train.write_text("\n".join(sents) + "\n", encoding="utf-8")
    out = tmp / "out"
    cmd = [sys.executable, str(ROOT / "train.py"), "--model_name_or_path", str(folder), "--train_file", str(train),
           "--output_dir", str(out), "--overwrite_output_dir", "--per_device_train_batch_size", str(args.batch),
           "--grad_cache_chunk_size", str(args.chunk), "--max_seq_length", "32", "--prompt_template", "prompteol",
           "--lora_r", "16", "--lora_alpha", "32", "--lora_target_modules", "q_proj", "k_proj", "v_proj", "o_proj",
           "--gradient_checkpointing", "True", "--learning_rate", "1e-4", "--max_steps", str(args.steps),
           "--logging_steps", "2", "--save_strategy", "no", "--eval_strategy", "no", "--report_to", "none",
           "--disable_tqdm", "true", "--dataloader_drop_last"]
    cmd += ["--bf16"] if args.device.startswith("cuda") else ["--use_cpu"]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    row = {"params": n_params, "batch": args.batch, "chunk": args.chunk, "wall_s": round(time.perf_counter() - t0, 1)}
    if proc.returncode != 0:
        row["error"] = proc.stderr[-2000:]
        print(row["error"])
    else:
        state = json.loads((out / "trainer_state.json").read_text())
        rates = [h["examples_per_second"] for h in state["log_history"] if "examples_per_second" in h]
        row["sent_per_s"] = statistics.median(rates[1:] or rates)
        row["windows"] = rates
        row["losses"] = [h["loss"] for h in state["log_history"] if "loss" in h]
    if torch.cuda.is_available():
        row["gpu"] = torch.cuda.get_device_name(0)
    path = write_result("decoder_lora_" + args.device.split(":")[0], {"rows": [row], "sentences": source},
                        Path(args.out_dir) if args.out_dir else None)
    print(table([row], ["params", "batch", "chunk", "sent_per_s", "wall_s"]))
    print(f"wrote {path}")
    return 0 if "error" not in row else 1


if __name__ == "__main__":
    raise SystemExit(main())
