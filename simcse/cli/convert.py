"""``simcse convert``: checkpoints of the original SimCSE training code -> our model folder.

The checkpoint is read by :mod:`simcse.formats.original_simcse`; the converted folder loads in
``SimCSE(path)``, ``SentenceEncoder.from_pretrained(path)`` and ``SentenceTransformer(path)``.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

from ..defaults import MAX_LENGTH
from ..encoder import SentenceEncoder
from ..formats import save_model_atomically
from ..formats.original_simcse import check_destination, checkpoint_folder, read_checkpoint
from ..pooling import POOLERS, SIMCSE_POOLER
from .common import DefaultsHelpFormatter

HELP = "convert an original SimCSE checkpoint into our format"


def convert_checkpoint(
    src: str | Path,
    dst: str | Path,
    pooler_type: str = SIMCSE_POOLER,
    mlp_only_train: bool = False,
    tokenizer: str | Path | None = None,
    max_length: int | None = None,
    overwrite: bool = False,
) -> SentenceEncoder:
    """Convert an original SimCSE ``*ForCL`` checkpoint folder ``src`` into our folder ``dst``.

    ``max_length``: the default tokens per sentence at inference (default
    :data:`simcse.defaults.MAX_LENGTH`, or the model's limit when lower); it must be at least 2 and at
    most the model's limit.

    ``dst`` must be a new or empty folder (``overwrite=True``: replace the files of a non-empty
    one); it is never ``src`` itself, whose weights and config would be replaced.

    Raises ``FileNotFoundError`` / ``ValueError`` naming what is missing or unexpected (no
    weights, no MLP for the ``cls`` pooler, backbone keys that do not fit the config).
    """
    src = checkpoint_folder(src)
    dst = Path(dst)
    check_destination(src, dst, overwrite)
    converted = read_checkpoint(src, pooler_type, mlp_only_train, tokenizer, max_length)
    encoder = SentenceEncoder(converted.backbone, converted.tokenizer, converted.config, converted.mlp)
    encoder.eval()
    save_model_atomically(encoder, dst)
    return encoder


def build_parser() -> argparse.ArgumentParser:
    """The flags of ``simcse convert``."""
    parser = argparse.ArgumentParser(
        prog="simcse convert",
        description="Convert an original SimCSE training checkpoint (BertForCL/RobertaForCL) into a simcse / "
        "sentence-transformers model folder.",
        formatter_class=DefaultsHelpFormatter,
    )
    parser.add_argument("src", help="folder written by SimCSE's train.py (config.json + pytorch_model.bin or model.safetensors)")
    parser.add_argument("dst", help="output folder")
    parser.add_argument("--pooler_type", default=SIMCSE_POOLER, help=f"pooler the model was trained with ({', '.join(POOLERS)})")
    parser.add_argument("--mlp_only_train", action="store_true", help="unsupervised model: the MLP is not used at inference")
    parser.add_argument("--tokenizer", default=None, help="tokenizer folder, if SRC has none")
    parser.add_argument(
        "--max_length", type=int, default=None,
        help=f"default maximum tokens per sentence at inference (default {MAX_LENGTH}, or the model's limit when lower)",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace the files of a non-empty DST")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """``simcse convert SRC DST [--pooler_type cls] [--mlp_only_train] [--tokenizer DIR] [--overwrite]``."""
    args = build_parser().parse_args(argv)
    try:
        convert_checkpoint(
            args.src, args.dst, args.pooler_type, args.mlp_only_train, args.tokenizer, args.max_length, args.overwrite
        )
    except (ValueError, OSError) as exc:  # OSError: FileNotFoundError and unreadable weight files
        print(f"simcse convert: error: {exc}", file=sys.stderr)
        return 2
    print(f"converted {args.src} -> {args.dst}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
