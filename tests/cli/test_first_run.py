"""What a new user meets first: --version, --help showing defaults, the demo's logging, the training
defaults warning, the package metadata, and MTEB's superseded-task warning printed once."""
from __future__ import annotations

import argparse
import importlib
import logging
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from simcse.cli import COMMANDS
from simcse.cli import main as simcse_main
from simcse.version import __version__

ROOT = Path(__file__).resolve().parents[2]
WITH_DEFAULTS = ["encode", "similarity", "search", "index", "evaluate", "demo", "convert", "reproduce"]


def test_version(capsys):
    with pytest.raises(SystemExit) as info:
        simcse_main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.strip() == f"simcse {__version__}"


def _parsers(parser: argparse.ArgumentParser):
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                yield from _parsers(sub)


@pytest.mark.parametrize("command", WITH_DEFAULTS)
def test_help_shows_every_options_default(command):
    parser = importlib.import_module(f"simcse.cli.{command}").build_parser()
    missing = []
    for p in _parsers(parser):
        formatter = p._get_formatter()
        for action in p._actions:
            if not action.option_strings or isinstance(action, argparse._HelpAction):
                continue
            if not (action.help or "").strip() or "default" not in formatter._get_help_string(action).lower():
                missing.append(action.option_strings[0])
    assert not missing, f"simcse {command} --help: no default shown for {missing}"
    assert any("(default: " in p.format_help() for p in _parsers(parser))


@pytest.mark.parametrize("command", [c for c in COMMANDS if c != "train"])
def test_help_texts_have_no_tracker_references(command, capsys):
    module = importlib.import_module(f"simcse.cli.{command}")
    parsers = list(_parsers(module.build_parser())) if hasattr(module, "build_parser") else []
    for p in parsers:
        text = p.format_help().lower()
        assert "issue " not in text and "#" not in text.replace("# ", ""), (command, text)


def test_train_help_shows_defaults(capsys):
    assert simcse_main(["train", "--help"]) == 0
    out = capsys.readouterr().out
    assert "--per_device_train_batch_size" in out and "(default: 8)" in out
    assert "issue " not in out.lower()


def test_demo_configures_our_loggers_only(monkeypatch):
    from simcse.cli import demo, serve

    monkeypatch.setattr(serve, "run_server", lambda *a, **k: 0)
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    try:
        assert demo.main([]) == 0
        assert root.level == level and root.handlers == handlers
        assert logging.getLogger("faiss.loader").getEffectiveLevel() == level
        assert logging.getLogger("simcse.demo").getEffectiveLevel() == logging.INFO
    finally:
        ours = logging.getLogger("simcse")
        for h in [h for h in ours.handlers if getattr(h, "simcse_cli", False)]:
            ours.removeHandler(h)
        ours.setLevel(logging.NOTSET)
        ours.propagate = True


def test_training_without_a_recipe_warns_and_names_the_recipes():
    from simcse.training.config import TrainConfig, defaults_warning

    plain = TrainConfig.from_argv(["--model_name_or_path", "m", "--train_file", "t.txt", "--output_dir", "o"])
    message = defaults_warning(plain)
    assert "Hugging Face's defaults (batch 8" in message and "--recipe NAME" in message
    assert "unsup-bert-base" in message and "sup-roberta-large" in message
    recipe = TrainConfig.from_argv(["--recipe", "unsup-bert-base", "--model_name_or_path", "m", "--train_file",
                                    "t.txt", "--output_dir", "o"])
    assert defaults_warning(recipe) is None
    explicit = TrainConfig.from_argv(["--model_name_or_path", "m", "--train_file", "t.txt", "--output_dir", "o",
                                      "--per_device_train_batch_size", "64"])
    assert defaults_warning(explicit) is None


def test_setup_py_uses_an_spdx_license_expression(tmp_path):
    for name in ("setup.py", "README.md"):
        shutil.copy(ROOT / name, tmp_path / name)
    (tmp_path / "simcse").mkdir()
    shutil.copy(ROOT / "simcse" / "version.py", tmp_path / "simcse" / "version.py")
    run = subprocess.run([sys.executable, "setup.py", "-q", "egg_info"], cwd=tmp_path, capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "License classifiers" not in run.stdout + run.stderr
    info = next(tmp_path.glob("*.egg-info")) / "PKG-INFO"
    text = info.read_text()
    assert "License-Expression: MIT" in text and "Classifier: License ::" not in text


def test_mteb_superseded_task_warning_is_printed_once(caplog):
    pytest.importorskip("mteb")
    import simcse.evaluation  # noqa: F401  (installs the filter)
    from mteb.abstasks.abstask import AbsTask

    class Meta:
        name = "OldTask"

    class Old:
        superseded_by = "NewTask"
        metadata = Meta()

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        importlib.reload(simcse.evaluation)  # the filter is installed after simplefilter reset it
        with caplog.at_level(logging.WARNING):
            AbsTask.check_if_dataset_is_superseded(Old())
    assert [r.getMessage() for r in caplog.records if "superseded" in r.getMessage()] == [
        caplog.records[-1].getMessage()]
    assert "The task 'OldTask' is superseded by 'NewTask'" in caplog.text
    assert not [w for w in caught if "superseded" in str(w.message)]
