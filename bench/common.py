"""Shared helpers for the benchmarks: workloads, models, timing and result files."""
from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path
from typing import Any, Callable

import torch
from transformers import AutoTokenizer, BertConfig, BertModel

from simcse.encoder import EncoderConfig, SentenceEncoder, default_model_path
from simcse.experiments.provenance import environment

RESULTS = Path(__file__).resolve().parent / "results"


def data_dir() -> Path | None:
    env = os.environ.get("SIMCSE_DATA_DIR")
    for cand in ([Path(env)] if env else []) + [Path(__file__).resolve().parents[2] / "shared" / "data"]:
        if (cand / "wiki").is_dir() or (cand / "SentEval-downstream").is_dir():
            return cand
    return None


def wiki_sentences(n: int) -> tuple[list[str], str]:
    """``n`` Wikipedia sentences (SimCSE's wiki1m head, cycled if shorter), else the bundled corpus."""
    d = data_dir()
    src = None
    if d is not None:
        cands = sorted((d / "wiki").glob("wiki1m*.txt")) if (d / "wiki").is_dir() else []
        src = cands[0] if cands else None
    if src is None:
        src = Path(__file__).resolve().parents[1] / "simcse" / "resources" / "example_corpus.txt"
    lines = [l.strip() for l in src.read_text(encoding="utf-8").splitlines() if l.strip()]
    out = [lines[i % len(lines)] for i in range(n)]
    return out, f"{src.name} ({len(lines)} unique lines, cycled to {n})"


def random_bert_base(folder: Path, pooler: str = "avg", seed: int = 0, **config: Any) -> Path:
    """A randomly initialised BERT-base (bert-base-uncased config and vocabulary, ``config`` overriding
    it, e.g. ``hidden_dropout_prob=0.0``) saved as our folder."""
    if (folder / "simcse_config.json").is_file():
        return folder
    torch.manual_seed(seed)
    model = BertModel(BertConfig(**config))
    tok = AutoTokenizer.from_pretrained(os.environ.get("MINILM") or str(default_model_path()))
    SentenceEncoder(model, tok, EncoderConfig(pooler_type=pooler, max_length=128)).save_pretrained(folder)
    return folder


def device_info() -> dict[str, Any]:
    return {**environment(), "cpu_threads": torch.get_num_threads(), "cpu": platform.processor() or platform.machine()}


def sync(device: str | torch.device) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def timed(fn: Callable[[], Any], device: str | torch.device, repeats: int = 1) -> tuple[float, Any]:
    """Best wall time (s) of ``repeats`` runs of ``fn`` (device synchronised), and its last result."""
    best, out = float("inf"), None
    for _ in range(repeats):
        sync(device)
        t0 = time.perf_counter()
        out = fn()
        sync(device)
        best = min(best, time.perf_counter() - t0)
    return best, out


def write_result(name: str, payload: dict[str, Any], out_dir: Path | None = None) -> Path:
    out_dir = out_dir or RESULTS
    out_dir.mkdir(parents=True, exist_ok=True)
    payload = {"benchmark": name, "time": time.strftime("%Y-%m-%d %H:%M:%S"), "env": device_info(), **payload}
    path = out_dir / f"{name}.json"
    path.write_text(json.dumps(payload, indent=2) + "\n")
    return path


def table(rows: list[dict[str, Any]], cols: list[str]) -> str:
    widths = [max(len(c), *(len(_fmt(r.get(c))) for r in rows)) for c in cols]
    lines = [" | ".join(c.ljust(w) for c, w in zip(cols, widths)), "-|-".join("-" * w for w in widths)]
    for r in rows:
        lines.append(" | ".join(_fmt(r.get(c)).ljust(w) for c, w in zip(cols, widths)))
    return "\n".join(lines)


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:,.4f}" if abs(v) < 10 else f"{v:,.1f}"
    return "" if v is None else str(v)


def vm_hwm_mib() -> float | None:
    """Peak resident memory of this process (VmHWM), in MiB; None where /proc is not available."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def emit(result: dict[str, Any], json_path: Path | None = None) -> None:
    """Print ``result`` as indented JSON, and write it to ``json_path`` when one is given."""
    text = json.dumps(result, indent=1)
    print(text)
    if json_path:
        Path(json_path).write_text(text + "\n")
