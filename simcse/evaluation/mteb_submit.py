"""A leaderboard submission from a ``simcse mteb`` output folder.

An MTEB leaderboard submission is two pull requests: the model's ``ModelMeta`` (with its loader) in
mteb's model registry (``mteb/models/model_implementations/``), and a results folder in the
``embeddings-benchmark/results`` repository, whose CI checks (its ``tests/``): every revision folder
``results/<org>__<model>/<revision>/`` holds ``model_meta.json`` naming that model (``org/model``) and
revision (a 40-hex commit), every other ``*.json`` there is a task result whose ``task_name`` is its file
name and that mteb loads, ``run_settings.jsonl`` has an entry per (task, split, subset) made by mteb > 2.0,
and the model is in mteb's registry. :func:`submit` writes both parts and runs those checks
(:func:`check_results_folder`) on what it wrote.

It refuses a placeholder name (``local/...``), a missing or non-commit revision, metadata a submission
needs and the user did not give (by flag name), a model folder whose weights are not those the results
were computed with, results of a changed pooler / token limit (which mteb's loader would not
reproduce), and results computed from local copies of task data that are not verified to be the hub's
files: ``accept_local_data=True`` (``--accept_local_data``) says the user vouches for them, and is
recorded in ``simcse_submission.json`` with the files' checksums.
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from ..experiments.provenance import folder_fingerprint
from .mteb import PROVENANCE_FILE, check_model_name, is_hub_snapshot, read_provenance

SHA1 = re.compile(r"[0-9a-f]{40}")
REQUIRED = {"license": "--license", "release_date": "--release_date", "languages": "--languages"}
"""ModelMeta fields a submission needs beyond name and revision, and the flag that gives each."""
SUBMISSION_FILE = "simcse_submission.json"
VERIFIED_HUB_FILES: dict[str, dict[str, str]] = {}
"""sha256 of hub dataset files (task name -> {file name: sha256}) that local copies may be checked
against. Empty: none of the local copies this toolkit reads (SentEval's STS/SICK files, the PolyAI
Banking77 CSVs, Amazon's counterfactual TSVs) is byte-for-byte a file of mteb's hub datasets, so
their results are submitted only with ``accept_local_data``."""


def _load_meta(path: Path) -> Any:
    from mteb.models.model_meta import ModelMeta  # the [mteb] extra

    return ModelMeta.model_validate_json_resolved(path.read_text(encoding="utf-8"))


def _verified(task: str, source: dict[str, Any]) -> bool:
    known = VERIFIED_HUB_FILES.get(task)
    return bool(known) and all(known.get(Path(f["path"]).name) == f["sha256"] for f in source.get("files", []))


def submit(output_folder: str | os.PathLike, submission_dir: str | os.PathLike, *, name: str | None = None,
           revision: str | None = None, model: str | os.PathLike | None = None, meta: dict[str, Any] | None = None,
           accept_local_data: bool = False) -> dict[str, Any]:
    """Write ``submission_dir/results/<org>__<model>/<revision>/`` (model_meta.json, one ``<Task>.json`` per
    task, run_settings.jsonl), ``submission_dir/<org>__<model>.py`` (the registry entry) and
    ``submission_dir/simcse_submission.json`` (where the data came from); returns
    ``{"results_dir", "registry_file", "tasks", "meta"}``. ``ValueError`` names what is missing or wrong."""
    output_folder, submission_dir = Path(output_folder), Path(submission_dir)
    prov = read_provenance(output_folder)
    if not prov:
        raise ValueError(f"{str(output_folder)!r} has no {PROVENANCE_FILE}: give the --output_folder of a `simcse mteb` run")
    run_model = prov["model"]
    src = output_folder / "results" / run_model["name"].replace("/", "__").replace(" ", "_") / run_model["revision"]
    if not (src / "model_meta.json").is_file():
        raise ValueError(f"{str(src)!r} has no model_meta.json: the run in {str(output_folder)!r} did not finish")
    old = _load_meta(src / "model_meta.json")
    changed = [c for c in (run_model.get("variant") or "").split("-") if c in ("pooler", "maxlen")]
    if changed or "-pooler-" in run_model["revision"] or "-maxlen-" in run_model["revision"]:
        raise ValueError(f"the results in {str(src)!r} were computed with another pooler or max_length than the "
                         "model folder's own (--pooler / --max_length), which mteb's loader would not reproduce: "
                         "save the model with those settings and evaluate the saved folder")
    name = name or old.name
    if name.startswith("local/"):
        raise ValueError(f"--name: {name!r} is a placeholder simcse gives a local folder; give the model's hub "
                         "name, --name org/model")
    check_model_name(name)
    revision = revision or (run_model["revision"] if SHA1.fullmatch(run_model["revision"]) else None)
    if revision is None:
        raise ValueError(f"--revision is missing: the results repository needs the model's hub commit (40 hex "
                         f"digits; the run recorded {run_model['revision']!r}). Push the model folder to "
                         f"{name} and give --revision COMMIT")
    if not SHA1.fullmatch(revision):
        raise ValueError(f"--revision {revision!r} is not a commit hash (40 lower-case hex digits), which the "
                         "results repository requires")
    if model is not None:
        folder = Path(model)
        if not folder.is_dir():
            raise ValueError(f"--model {str(folder)!r} is not a folder")
        if folder_fingerprint(folder) != run_model["fingerprint"]:
            raise ValueError(f"--model {str(folder)!r}: its weights fingerprint "
                             f"{folder_fingerprint(folder)[:12]} is not that of the folder the results were "
                             f"computed with ({run_model['fingerprint'][:12]}, {run_model['folder']}): the "
                             f"revision {revision} would be claimed for other weights")
        if is_hub_snapshot(folder) and folder.name != revision:
            raise ValueError(f"--revision {revision} does not match --model, the hub snapshot {folder.name}")
    tasks = sorted(p.stem for p in src.glob("*.json") if p.name != "model_meta.json")
    sources = prov.get("tasks", {})
    unverified = [t for t in tasks if sources.get(t, {}).get("from_local_copy") and not _verified(t, sources[t])]
    if unverified and not accept_local_data:
        files = "; ".join(f"{t}: {', '.join(Path(f['path']).name for f in sources[t]['files'])}" for t in unverified)
        raise ValueError(f"results of {', '.join(unverified)} were computed from local copies of the task data "
                         f"({files}) that are not verified to be the hub datasets' files the results would claim. "
                         "Evaluate with the hub's data, or pass --accept_local_data if you know they are the same "
                         f"data (recorded in {SUBMISSION_FILE} with their checksums)")
    fields = {k: v for k, v in (meta or {}).items() if v is not None}
    fields.update(name=name, revision=revision)
    new = old.model_copy(update=fields)
    from mteb.models.model_meta import ModelMeta  # the [mteb] extra

    try:
        new = ModelMeta.model_validate(new.model_dump())  # the flags' values checked as mteb checks them
    except Exception as exc:
        raise ValueError(f"model metadata is not valid for mteb: {exc}") from None
    missing = [flag for key, flag in REQUIRED.items() if not getattr(new, key)]
    if new.loader is None:
        missing.append("a sentence-transformers model folder (this one only loads with simcse)")
    if missing:
        raise ValueError(f"a submission needs {', '.join(missing)}, which the run did not record; give "
                         f"{'them' if len(missing) > 1 else 'it'} to `simcse mteb submit`")
    dest = submission_dir / "results" / new.model_name_as_path() / revision
    if dest.exists() and any(dest.iterdir()):
        raise ValueError(f"{str(dest)!r} exists and is not empty; it would be replaced: choose another --submission")
    dest.mkdir(parents=True, exist_ok=True)
    with (dest / "model_meta.json").open("w", encoding="utf-8") as fh:
        json.dump(new.to_dict(), fh, default=str, indent=4)
    for task in tasks:
        data = json.loads((src / f"{task}.json").read_text(encoding="utf-8"))
        if task in unverified:  # vouched for by the user: the data is the hub's, so is its revision
            data["dataset_revision"] = sources[task]["hub_revision"]
        (dest / f"{task}.json").write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    if (src / "run_settings.jsonl").is_file():
        (dest / "run_settings.jsonl").write_text(_one_entry_per_split_and_subset(src / "run_settings.jsonl"),
                                                 encoding="utf-8")
    registry = submission_dir / f"{new.model_name_as_path().replace('-', '_').replace('.', '_')}.py"
    registry.write_text(registry_entry(new), encoding="utf-8")
    record = {"model": {**run_model, "name": name, "revision": revision},
              "tasks": {t: {**sources.get(t, {}), **({"accepted_by_user": "--accept_local_data"} if t in unverified
                                                      else {})} for t in tasks}}
    (submission_dir / SUBMISSION_FILE).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    problems = check_results_folder(submission_dir / "results")
    if problems:
        raise ValueError("the written results folder fails the results repository's checks: " + "; ".join(problems))
    return {"results_dir": str(dest), "registry_file": str(registry), "tasks": tasks, "meta": new}


def _one_entry_per_split_and_subset(path: Path) -> str:
    """mteb's run_settings.jsonl with one line per (task, split, subset): mteb 2.26 writes ``splits`` and
    ``subsets`` lists in one line, the results repository's check looks up ``split`` and ``subset``
    keys; each line keeps mteb's fields and gets those two."""
    lines = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        entry = json.loads(line)
        if "split" in entry and "subset" in entry:
            lines.append(json.dumps(entry))
            continue
        for split in entry.get("splits", []):
            for subset in entry.get("subsets", []):
                lines.append(json.dumps({**entry, "split": split, "subset": subset}))
    return "\n".join(lines) + "\n"


def registry_entry(meta: Any) -> str:
    """Python source of mteb's registry entry for ``meta`` (a ``ModelMeta(...)`` with its loader), for
    ``mteb/models/model_implementations/``."""
    var = re.sub(r"\W", "_", meta.name.split("/", 1)[1]).strip("_") or "model"
    if var[0].isdigit():
        var = "m_" + var
    return ("from mteb.models.model_meta import ModelMeta, ScoringFunction\n"
            "from mteb.models.sentence_transformer_wrapper import SentenceTransformerEncoderWrapper\n\n"
            f"{var} = {meta.to_python()}\n")


def check_results_folder(results: str | os.PathLike) -> list[str]:
    """What the results repository's checks would find wrong in ``results`` (its ``results/`` folder):
    folder structure, model_meta.json valid for mteb's ModelMeta and naming its folder, a commit
    revision, ``org/model`` names, task name = file name, task results mteb loads, and run_settings.jsonl
    entries (mteb > 2.0) for every (task, split, subset). ``[]`` when none."""
    from mteb import TaskResult  # the [mteb] extra

    results = Path(results)
    problems: list[str] = []
    for rev in sorted(p for p in results.glob("*/*") if p.is_dir()):
        meta_file = rev / "model_meta.json"
        if not meta_file.is_file():
            problems.append(f"{rev}: no model_meta.json")
            continue
        raw = json.loads(meta_file.read_text(encoding="utf-8"))
        try:
            _load_meta(meta_file)
        except Exception as exc:
            problems.append(f"{meta_file}: not a valid ModelMeta: {exc}")
        name, revision = raw.get("name") or "", raw.get("revision") or ""
        if "/" not in name:
            problems.append(f"{meta_file}: name {name!r} has no organization")
        if results / name.replace(" ", "_").replace("/", "__") / revision != rev:
            problems.append(f"{meta_file}: name/revision {name}/{revision} do not name its folder")
        if not (SHA1.fullmatch(revision) or len(revision) == 1):
            problems.append(f"{meta_file}: revision {revision!r} is not a commit hash")
        settings: set[tuple[str, str, str]] = set()
        rs = rev / "run_settings.jsonl"
        if rs.is_file():
            for line in rs.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    e = json.loads(line)
                    if _version(e.get("version", {}).get("mteb")) > (2, 0, 0):
                        settings.add((e.get("task"), e.get("split"), e.get("subset")))
        task_files = [p for p in rev.glob("*.json") if p.name != "model_meta.json"]
        if not task_files:
            problems.append(f"{rev}: no task results")
        for f in task_files:
            data = json.loads(f.read_text(encoding="utf-8"))
            if data.get("task_name") != f.stem:
                problems.append(f"{f}: task_name {data.get('task_name')!r} is not its file name")
            if _version(data.get("mteb_version")) <= (2, 0, 0):
                problems.append(f"{f}: mteb_version {data.get('mteb_version')!r} is not > 2.0.0")
            try:
                TaskResult.from_disk(f)
            except Exception as exc:
                problems.append(f"{f}: mteb cannot load it: {exc}")
            for split, blocks in (data.get("scores") or {}).items():
                for b in blocks:
                    if (f.stem, split, b.get("hf_subset")) not in settings:
                        problems.append(f"{f}: no run_settings.jsonl entry for {split}/{b.get('hf_subset')}")
    return problems


def _version(value: Any) -> tuple[int, ...]:
    if not isinstance(value, str):
        return (0, 0, 0)
    parts = [int(m.group(1)) for m in (re.match(r"(\d+)", p) for p in value.split(".")[:3]) if m]
    return tuple(parts + [0] * (3 - len(parts)))
