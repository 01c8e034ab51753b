"""Where evaluation data lives: ``--data_dir``, else ``$SIMCSE_DATA_DIR``, else ``SentEval/data/downstream``.

The directory is in SentEval's layout (``STS/STS12-en-test``, ``STS/STSBenchmark``, ``SICK``, ``MR``, ...).
``$SIMCSE_DATA_DIR`` may also point at a folder that holds ``SentEval-downstream`` (as ``../shared/data`` does).
"""
from __future__ import annotations

import os
from pathlib import Path

DEFAULT_DATA_DIR = Path("SentEval") / "data" / "downstream"
SENTEVAL_SUBDIR = "SentEval-downstream"


def resolve_data_dir(data_dir: str | os.PathLike | None = None) -> Path:
    """The SentEval downstream folder to read (not checked for content; readers name missing files)."""
    if data_dir is None:
        data_dir = os.environ.get("SIMCSE_DATA_DIR") or DEFAULT_DATA_DIR
    path = Path(data_dir).expanduser()
    if (path / SENTEVAL_SUBDIR).is_dir():
        path = path / SENTEVAL_SUBDIR
    return path


def data_dir_source(data_dir: str | os.PathLike | None = None) -> str:
    """Which setting gives the data folder for ``data_dir``, as a result file records it:
    ``"argument"`` (``data_dir`` / ``--data_dir``), ``"SIMCSE_DATA_DIR"`` or ``"default"``."""
    if data_dir is not None:
        return "argument"
    return "SIMCSE_DATA_DIR" if os.environ.get("SIMCSE_DATA_DIR") else "default"


def data_dir_origin(data_dir: str | os.PathLike | None = None) -> str:
    """Which setting gave the data folder that :func:`resolve_data_dir` returns for ``data_dir``, in words."""
    source = data_dir_source(data_dir)
    if source == "argument":
        where, given, note = "--data_dir", data_dir, " (the data_dir argument)"
    elif source == "SIMCSE_DATA_DIR":
        where, given, note = "SIMCSE_DATA_DIR", os.environ["SIMCSE_DATA_DIR"], " (--data_dir not given)"
    else:
        return (f"the default {str(DEFAULT_DATA_DIR)!r}, relative to the current directory {os.getcwd()!r} "
                "(neither --data_dir nor SIMCSE_DATA_DIR is set)")
    if (Path(given).expanduser() / SENTEVAL_SUBDIR).is_dir():
        note += f", its {SENTEVAL_SUBDIR}/ subfolder"
    return f"{where} {str(given)!r}{note}"


def require_file(path: Path, task: str, layout: str, data_dir: str | os.PathLike | None = None) -> Path:
    """Return ``path`` if it is a file, else ``FileNotFoundError`` naming it, the expected layout, and
    which setting gave the data folder (``data_dir`` as the reader got it, ``$SIMCSE_DATA_DIR`` or the default)."""
    if not path.is_file():
        raise FileNotFoundError(
            f"{task}: data file {str(path)!r} is missing. The data directory {str(resolve_data_dir(data_dir))!r} "
            f"came from {data_dir_origin(data_dir)}; expected SentEval's layout under it: {layout}. "
            "Set --data_dir (or SIMCSE_DATA_DIR, used when --data_dir is not given) to SentEval's "
            "data/downstream folder, or run SentEval/download_dataset.sh."
        )
    return path


def _number(value: str, where: str, what: str) -> float:
    """``float(value)``, or a ``ValueError`` naming the file and line (``where``) and the column."""
    try:
        return float(value)
    except ValueError:
        raise ValueError(f"{where}: {what} {value!r} is not a number") from None


def read_stsb(data_dir: str | os.PathLike | None = None, split: str = "dev") -> tuple[list[str], list[str], list[float]]:
    """STS-B pairs and gold scores (0-5) for ``split`` in {train, dev, test}."""
    root = resolve_data_dir(data_dir)
    f = require_file(root / "STS" / "STSBenchmark" / f"sts-{split}.csv", "STSBenchmark",
                     "STS/STSBenchmark/sts-{train,dev,test}.csv", data_dir)
    s1: list[str] = []
    s2: list[str] = []
    scores: list[float] = []
    with open(f, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            cols = line.rstrip("\n").split("\t")
            if len(cols) < 7:
                raise ValueError(f"{f}:{lineno}: expected at least 7 tab-separated columns, got {len(cols)}")
            scores.append(_number(cols[4], f"{f}:{lineno}", "gold score (column 5)"))
            s1.append(cols[5])
            s2.append(cols[6])
    return s1, s2, scores


# ---------------------------------------------------------------------- SentEval file readers
# Each reader follows SentEval's own loader for the task (file names, encoding, columns, header
# rows, blank-gold handling). Sentences are whitespace-normalised (``" ".join(s.split())``) because
# SentEval splits every sentence into tokens and SimCSE's batcher joins them with single spaces.

STS_SUBSETS: dict[str, tuple[str, ...]] = {
    "STS12": ("MSRpar", "MSRvid", "SMTeuroparl", "surprise.OnWN", "surprise.SMTnews"),
    "STS13": ("FNWN", "headlines", "OnWN"),  # SentEval drops SMT (licence)
    "STS14": ("deft-forum", "deft-news", "headlines", "images", "OnWN", "tweet-news"),
    "STS15": ("answers-forums", "answers-students", "belief", "headlines", "images"),
    "STS16": ("answer-answer", "headlines", "plagiarism", "postediting", "question-question"),
}

Pairs = tuple[list[str], list[str], list[float]]


def senteval_text(text: str) -> str:
    """A sentence as SentEval hands it to the model: tokens split on whitespace, joined by one space."""
    return " ".join(text.split())


def read_sts_year(task: str, data_dir: str | os.PathLike | None = None) -> dict[str, Pairs]:
    """SentEval's STS12..STS16: ``{subset: (s1, s2, gold)}``, pairs with a blank gold score dropped."""
    if task not in STS_SUBSETS:
        raise ValueError(f"unknown STS year task {task!r}; choose one of {', '.join(STS_SUBSETS)}")
    folder = resolve_data_dir(data_dir) / "STS" / f"{task}-en-test"
    layout = f"STS/{task}-en-test/STS.input.<subset>.txt and STS.gs.<subset>.txt for " + ", ".join(STS_SUBSETS[task])
    out: dict[str, Pairs] = {}
    for subset in STS_SUBSETS[task]:
        fin = require_file(folder / f"STS.input.{subset}.txt", task, layout, data_dir)
        fgs = require_file(folder / f"STS.gs.{subset}.txt", task, layout, data_dir)
        lines = fin.read_text(encoding="utf-8").splitlines()
        gold = fgs.read_text(encoding="utf-8").splitlines()
        if len(lines) != len(gold):
            raise ValueError(f"{fin} has {len(lines)} lines but {fgs} has {len(gold)}; they must match line for line")
        s1: list[str] = []
        s2: list[str] = []
        scores: list[float] = []
        for lineno, (line, g) in enumerate(zip(lines, gold), 1):
            if g == "":
                continue  # unscored pair, as in SentEval
            cols = line.split("\t")
            if len(cols) != 2:
                raise ValueError(f"{fin}:{lineno}: expected 2 tab-separated sentences, got {len(cols)} columns")
            scores.append(_number(g, f"{fgs}:{lineno}", "gold score"))
            s1.append(senteval_text(cols[0]))
            s2.append(senteval_text(cols[1]))
        out[subset] = (s1, s2, scores)
    return out


STSB_SPLITS = ("train", "dev", "test")
SICK_FILES = {"train": "SICK_train.txt", "dev": "SICK_trial.txt", "test": "SICK_test_annotated.txt"}


def read_sick(data_dir: str | os.PathLike | None = None, split: str = "test") -> tuple[list[str], list[str], list[float], list[str]]:
    """SICK pairs for ``split`` in {train, dev (= trial), test}: (s1, s2, relatedness 1-5, entailment label)."""
    if split not in SICK_FILES:
        raise ValueError(f"unknown SICK split {split!r}; choose one of {', '.join(SICK_FILES)}")
    f = require_file(resolve_data_dir(data_dir) / "SICK" / SICK_FILES[split], "SICK",
                     "SICK/SICK_train.txt, SICK/SICK_trial.txt, SICK/SICK_test_annotated.txt", data_dir)
    s1: list[str] = []
    s2: list[str] = []
    scores: list[float] = []
    labels: list[str] = []
    with open(f, encoding="utf-8") as fh:
        next(fh, None)  # header row
        for lineno, line in enumerate(fh, 2):
            cols = line.strip().split("\t")
            if len(cols) < 5:
                raise ValueError(f"{f}:{lineno}: expected 5 tab-separated columns, got {len(cols)}")
            s1.append(senteval_text(cols[1]))
            s2.append(senteval_text(cols[2]))
            scores.append(_number(cols[3], f"{f}:{lineno}", "relatedness score (column 4)"))
            labels.append(cols[4])
    return s1, s2, scores, labels


BINARY_FILES = {
    "MR": ("MR", "rt-polarity.pos", "rt-polarity.neg"),
    "CR": ("CR", "custrev.pos", "custrev.neg"),
    "SUBJ": ("SUBJ", "subj.objective", "subj.subjective"),
    "MPQA": ("MPQA", "mpqa.pos", "mpqa.neg"),
}


def read_binary(task: str, data_dir: str | os.PathLike | None = None) -> tuple[list[str], list[int]]:
    """MR / CR / SUBJ / MPQA: sentences (positive class first, label 1) and labels; latin-1 as SentEval reads them."""
    if task not in BINARY_FILES:
        raise ValueError(f"unknown binary task {task!r}; choose one of {', '.join(BINARY_FILES)}")
    folder, pos, neg = BINARY_FILES[task]
    root = resolve_data_dir(data_dir) / folder
    layout = f"{folder}/{pos} and {folder}/{neg}, one sentence a line"
    out: list[list[str]] = []
    for name in (pos, neg):
        f = require_file(root / name, task, layout, data_dir)
        out.append([senteval_text(line) for line in f.read_text(encoding="latin-1").splitlines()])
    return out[0] + out[1], [1] * len(out[0]) + [0] * len(out[1])


def read_sst2(data_dir: str | os.PathLike | None = None, split: str = "test") -> tuple[list[str], list[int]]:
    """SST-2 (binary) sentences and labels for ``split`` in {train, dev, test}."""
    if split not in STSB_SPLITS:
        raise ValueError(f"unknown SST2 split {split!r}; choose one of {', '.join(STSB_SPLITS)}")
    f = require_file(resolve_data_dir(data_dir) / "SST" / "binary" / f"sentiment-{split}", "SST2",
                     "SST/binary/sentiment-{train,dev,test}: sentence<TAB>label", data_dir)
    xs: list[str] = []
    ys: list[int] = []
    with open(f, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            cols = line.strip().split("\t")
            if len(cols) != 2 or cols[1] not in ("0", "1"):
                raise ValueError(f"{f}:{lineno}: expected 'sentence<TAB>0|1', got {line.strip()[:80]!r}")
            xs.append(senteval_text(cols[0]))
            ys.append(int(cols[1]))
    return xs, ys


TREC_LABELS = {"ABBR": 0, "DESC": 1, "ENTY": 2, "HUM": 3, "LOC": 4, "NUM": 5}
TREC_FILES = {"train": "train_5500.label", "test": "TREC_10.label"}


def read_trec(data_dir: str | os.PathLike | None = None, split: str = "test") -> tuple[list[str], list[int]]:
    """TREC questions and coarse labels (6 classes) for ``split`` in {train, test}."""
    if split not in TREC_FILES:
        raise ValueError(f"unknown TREC split {split!r}; choose one of {', '.join(TREC_FILES)}")
    f = require_file(resolve_data_dir(data_dir) / "TREC" / TREC_FILES[split], "TREC",
                     "TREC/train_5500.label and TREC/TREC_10.label ('LABEL:fine question')", data_dir)
    xs: list[str] = []
    ys: list[int] = []
    with open(f, encoding="latin-1") as fh:
        for lineno, line in enumerate(fh, 1):
            target, _, rest = line.strip().partition(":")
            if target not in TREC_LABELS or " " not in rest:
                raise ValueError(f"{f}:{lineno}: expected 'COARSE:fine question' with COARSE in {sorted(TREC_LABELS)}")
            xs.append(senteval_text(rest.split(" ", 1)[1]))
            ys.append(TREC_LABELS[target])
    return xs, ys


MRPC_FILES = {"train": "msr_paraphrase_train.txt", "test": "msr_paraphrase_test.txt"}


def read_mrpc(data_dir: str | os.PathLike | None = None, split: str = "test") -> tuple[list[str], list[str], list[int]]:
    """MRPC sentence pairs and paraphrase labels for ``split`` in {train, test} (header row skipped)."""
    if split not in MRPC_FILES:
        raise ValueError(f"unknown MRPC split {split!r}; choose one of {', '.join(MRPC_FILES)}")
    f = require_file(resolve_data_dir(data_dir) / "MRPC" / MRPC_FILES[split], "MRPC",
                     "MRPC/msr_paraphrase_{train,test}.txt: Quality, #1 ID, #2 ID, #1 String, #2 String", data_dir)
    a: list[str] = []
    b: list[str] = []
    ys: list[int] = []
    with open(f, encoding="utf-8") as fh:
        next(fh, None)
        for lineno, line in enumerate(fh, 2):
            cols = line.strip().split("\t")
            if len(cols) < 5 or cols[0] not in ("0", "1"):
                raise ValueError(f"{f}:{lineno}: expected 5 tab-separated columns starting with 0 or 1")
            a.append(senteval_text(cols[3]))
            b.append(senteval_text(cols[4]))
            ys.append(int(cols[0]))
    return a, b, ys
