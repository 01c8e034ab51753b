"""Helpers for tests that start worker processes with ``torch.multiprocessing.spawn``."""
from __future__ import annotations

import os
import sys
import traceback
from typing import Any, Callable


def exit_after(work: Callable[..., Any], *args: Any) -> None:
    """Run ``work(*args)`` in a spawned worker, then leave with ``os._exit``: 0 if it returned, 1 if it
    raised (the traceback is printed). Skipping the interpreter's teardown matters for gloo: its
    threads can abort a normally finishing process at exit (``terminate called without an active
    exception``, about one run in four on torch 2.13 CPU), which would fail a test whose work passed."""
    code = 1
    try:
        work(*args)
        code = 0
    except BaseException:  # noqa: BLE001 - report anything, then exit non-zero
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
