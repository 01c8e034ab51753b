"""``simcse encode``: embed sentences (arguments, --file or stdin) and print JSON lines or write a .npy file;
or embed a corpus file (``--input``) into a sharded, resumable embeddings folder (``--output_dir``)."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Sequence

import numpy as np
import torch.distributed as dist

from ..atomic import atomic_file
from ..encoder import resolve_model_path
from ..experiments.provenance import folder_fingerprint
from ..outputs import output_problem
from ..search.corpus import open_corpus
from ..search.encode_corpus import CorpusSettings, check_output_folder, encode_corpus, init_distributed_from_env
from ..search.shards import DTYPES
from .common import DefaultsHelpFormatter, add_model_args, load_model, nonnegative_int, positive_float, read_inputs, run_command

HELP = "embed sentences (arguments, --file or stdin) and write vectors, or a corpus file into a sharded folder"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="simcse encode", description=HELP, formatter_class=DefaultsHelpFormatter)
    add_model_args(p)
    p.add_argument("sentences", nargs="*", help="sentences (default: read --file or stdin)")
    p.add_argument("--file", help="text file, one sentence per line")
    p.add_argument("--output", help="write a .npy file (default: JSON lines on stdout)")
    p.add_argument("--overwrite", action="store_true", help="replace --output if it exists")
    p.add_argument("--no_normalize", action="store_true", help="keep raw (unnormalised) vectors")
    corpus = p.add_argument_group(
        "corpus encoding", "encode a large file into a folder of shards, resumable by rerunning the same command, "
        "on several GPUs under `torchrun --nproc_per_node K` (README: Encoding a large corpus)")
    corpus.add_argument("--input", help="corpus file: text (one sentence a line) or .jsonl (one object a line)")
    corpus.add_argument("--output_dir", help="embeddings folder to write (with --input)")
    corpus.add_argument("--dtype", choices=DTYPES, default="float16", help="vector storage (default: float16)")
    corpus.add_argument("--text_field", default=None, help=".jsonl key of the text (default: text)")
    corpus.add_argument("--id_field", default=None,
                        help=".jsonl key of each record's id (default: id, when the first record has one)")
    corpus.add_argument("--shard_mb", type=positive_float, default=64.0,
                        help="MiB of input per shard (default: 64)")
    corpus.add_argument("--tokenize_workers", type=nonnegative_int, default=None,
                        help="tokenizer processes feeding the GPU (default: on CUDA one per 4 cores beyond 2, at "
                             "most 4; 0: a thread of this process)")
    corpus.add_argument("--no_cuda_graphs", action="store_true",
                        help="on CUDA, run the model eagerly instead of replaying a CUDA graph per batch shape")
    return p


def run(args: argparse.Namespace) -> int:
    if args.input or args.output_dir:
        return run_corpus(args)
    if args.output:  # checked before the model loads and encodes
        problem = output_problem(args.output, args.overwrite, [args.file] if args.file else [],
                                 "the --file it reads", example="vectors.npy")
        if problem:
            raise ValueError(problem)
    sentences = read_inputs(args.sentences, args.file)
    if not sentences:
        raise ValueError("no sentences given (arguments, --file or stdin)")
    model = load_model(args)
    vecs = model.encode(sentences, return_numpy=True, normalize_to_unit=not args.no_normalize,
                        batch_size=args.batch_size, show_progress_bar=len(sentences) > 1000)
    if args.output:
        Path(args.output).parent.mkdir(parents=True, exist_ok=True)
        with atomic_file(args.output) as tmp, open(tmp, "wb") as f:  # a full disk leaves the old file
            np.save(f, vecs)  # to a file object: np.save(name) would append ".npy"
        print(f"wrote {vecs.shape[0]} x {vecs.shape[1]} vectors to {args.output}", file=sys.stderr)
    else:
        for s, v in zip(sentences, vecs):
            print(json.dumps({"sentence": s, "embedding": [round(float(x), 6) for x in v]}))
    return 0


def run_corpus(args: argparse.Namespace) -> int:
    """``--input CORPUS --output_dir EMB/``: the sharded folder of :mod:`simcse.search.shards`."""
    other = [flag for flag, given in (("sentence arguments", args.sentences), ("--file", args.file),
                                      ("--output", args.output), ("--overwrite", args.overwrite)) if given]
    if other:
        raise ValueError(f"--input/--output_dir cannot be combined with {', '.join(other)}")
    if not (args.input and args.output_dir):
        raise ValueError(f"{'--input' if args.input else '--output_dir'} needs "
                         f"{'--output_dir' if args.input else '--input'}: corpus encoding reads --input and writes "
                         "the folder --output_dir")
    corpus = open_corpus(args.input, args.text_field, args.id_field)  # bad input is refused before the model loads
    folder = Path(args.output_dir)
    if corpus.path.is_relative_to(folder.resolve()):
        raise ValueError(f"--output_dir {args.output_dir!r} holds the --input file {args.input!r}: give another folder")
    check_output_folder(folder)
    args.device, own_group = init_distributed_from_env(args.device)
    try:
        model = load_model(args)
        settings = CorpusSettings(
            # the fingerprint hashes the model folder's weights and configs (tokenizer included)
            model={"name": model.model_name_or_path,
                   "fingerprint": folder_fingerprint(resolve_model_path(model.model_name_or_path))},
            pooler=model.pooler, max_length=model.max_length, dtype=args.dtype,
            normalized=not args.no_normalize or bool(model.encoder.config.normalize), input=corpus.identity(),
            shard_bytes=max(1, round(args.shard_mb * (1 << 20))))

        def report(message: str) -> None:
            print(f"simcse encode: {message}", file=sys.stderr)

        manifest = encode_corpus(
            model.encoder, corpus, folder, settings, batch_size=args.batch_size, device=model.device,
            autocast_dtype=model.gpu_dtype if model.device.type == "cuda" else None, progress=True, report=report,
            tokenize_workers=args.tokenize_workers, cuda_graphs=False if args.no_cuda_graphs else None)
    finally:
        if own_group:
            dist.destroy_process_group()
    if manifest is not None:
        print(f"wrote {manifest.num_rows} vectors of {manifest.dim} dimensions ({manifest.dtype}) in "
              f"{len(manifest.shards)} shards to {folder}", file=sys.stderr)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return run_command("encode", run, build_parser().parse_args(argv))
