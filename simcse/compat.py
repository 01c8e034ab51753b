"""Old import paths: modules that moved into sub-packages stay importable under their old names.

``import simcse.trainer`` gives the very module object ``simcse.training.trainer`` (not a copy), so
code and ``monkeypatch`` targets written against the flat layout keep working.
"""
from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
from types import ModuleType

MOVED = {
    "simcse.loss": "simcse.training.loss",
    "simcse.distributed": "simcse.training.distributed",
    "simcse.grad_cache": "simcse.training.grad_cache",
    "simcse.matryoshka": "simcse.training.matryoshka",
    "simcse.lora": "simcse.training.lora",
    "simcse.data": "simcse.training.data",
    "simcse.trainer": "simcse.training.trainer",
    "simcse.train_cli": "simcse.cli.train",
    "simcse.index": "simcse.search.index",
    "simcse.quantization": "simcse.search.quantization",
    "simcse.mteb_eval": "simcse.evaluation.mteb",
    "simcse.evaluation.cli": "simcse.cli.evaluate",
    "simcse.reproduce": "simcse.experiments.reproduce",
    "simcse.provenance": "simcse.experiments.provenance",
    "simcse.analysis": "simcse.experiments.analysis",
    "simcse.export": "simcse.formats.sentence_transformers",
    "simcse.st_modules": "simcse.formats.sentence_transformers",
    "simcse.convert": "simcse.cli.convert",
}
"""Old module name -> where it lives now."""


class _AliasLoader(importlib.abc.Loader):
    def __init__(self, target: str) -> None:
        self.target = target

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        module = importlib.import_module(self.target)
        self.own_spec = module.__spec__
        return module

    def exec_module(self, module: ModuleType) -> None:
        """The target module ran when it was imported; give it back the spec the import machinery replaced."""
        module.__spec__ = self.own_spec


class MovedModuleFinder(importlib.abc.MetaPathFinder):
    """Resolves an old module name of :data:`MOVED` to the module at its new place."""

    def find_spec(self, fullname: str, path: object = None, target: object = None) -> importlib.machinery.ModuleSpec | None:
        new = MOVED.get(fullname)
        if new is None:
            return None
        return importlib.util.spec_from_loader(fullname, _AliasLoader(new))


def install() -> None:
    """Put the finder on ``sys.meta_path`` once."""
    if not any(isinstance(finder, MovedModuleFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, MovedModuleFinder())
