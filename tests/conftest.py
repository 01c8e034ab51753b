"""Shared fixtures: the real model, the real data directory, and tiny random models."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path | None:
    env = os.environ.get("SIMCSE_DATA_DIR")
    for cand in ([Path(env)] if env else []) + [ROOT.parent / "shared" / "data"]:
        if (cand / "SentEval-downstream").is_dir():
            return cand
    return None


@pytest.fixture(scope="session", autouse=True)
def private_cache(tmp_path_factory):
    """$SIMCSE_CACHE points into the session's temporary folder (the processes the tests start inherit it):
    no test reads or fills the user's ~/.cache/simcse (tokenized data, the demo's indexes)."""
    with pytest.MonkeyPatch.context() as mp:
        path = tmp_path_factory.mktemp("simcse_cache")
        mp.setenv("SIMCSE_CACHE", str(path))
        yield path


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """``../shared/data`` (or $SIMCSE_DATA_DIR); tests that need it skip only when it is absent."""
    d = shared_data_dir()
    if d is None:
        pytest.skip("real data not found: set SIMCSE_DATA_DIR or place shared/data beside the repo")
    return d


@pytest.fixture(scope="session")
def senteval_dir(data_dir: Path) -> Path:
    return data_dir / "SentEval-downstream"


@pytest.fixture(scope="session")
def minilm_path() -> Path:
    from simcse import default_model_path

    return default_model_path()


@pytest.fixture(scope="session")
def minilm(minilm_path):
    from simcse import SimCSE

    return SimCSE(str(minilm_path), device="cpu")


def make_tiny_bert(path: Path, minilm_path: Path, hidden: int = 32, layers: int = 2, seed: int = 0) -> Path:
    """A randomly initialised small BERT with the real bert-base-uncased vocabulary, saved to ``path``."""
    from transformers import AutoTokenizer, BertConfig, BertModel

    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=30522, hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=4,
        intermediate_size=hidden * 2, max_position_embeddings=128,
    )
    model = BertModel(config)
    model.save_pretrained(str(path))
    AutoTokenizer.from_pretrained(str(minilm_path)).save_pretrained(str(path))
    return path


@pytest.fixture(scope="session")
def tiny_bert_path(tmp_path_factory, minilm_path) -> Path:
    return make_tiny_bert(tmp_path_factory.mktemp("tiny_bert"), minilm_path)


def make_tiny_decoder(path: Path, minilm_path: Path, kind: str = "llama") -> Path:
    """A randomly initialised small Llama- or GPT-2-style decoder with the bert-base-uncased vocabulary, saved to ``path``."""
    from transformers import AutoTokenizer, GPT2Config, GPT2Model, LlamaConfig, LlamaModel

    torch.manual_seed(0)
    if kind == "llama":
        cfg = LlamaConfig(vocab_size=30522, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                          num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128,
                          bos_token_id=101, eos_token_id=102)
        model = LlamaModel(cfg)
    else:
        cfg = GPT2Config(vocab_size=30522, n_embd=32, n_layer=2, n_head=4, n_positions=128,
                         bos_token_id=101, eos_token_id=102)
        model = GPT2Model(cfg)
    model.save_pretrained(str(path))
    AutoTokenizer.from_pretrained(str(minilm_path)).save_pretrained(str(path))
    return path


CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]
"""Flags of the headless Chromium the browser tests drive (no sandbox: the tests may run as root)."""


def _browser_ready() -> str | None:
    """None when chromium and playwright are usable, else why not."""
    if not Path(CHROMIUM).is_file() and not shutil.which("chromium"):
        return f"{CHROMIUM} not found"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError as exc:
        return f"the Python package playwright is not importable ({exc})"
    return None


@pytest.fixture(scope="session")
def chromium_path() -> str:
    """Chromium for the browser tests, installed by scripts/install_browser.sh when missing (else the test skips)."""
    why = _browser_ready()
    if why is not None:
        out = subprocess.run(["bash", str(Path(__file__).resolve().parents[1] / "scripts" / "install_browser.sh")],
                             capture_output=True, text=True, timeout=900)
        why = _browser_ready()
        if why is not None:
            pytest.skip(f"cannot run the browser test: {why}; scripts/install_browser.sh said: "
                        f"{(out.stdout + out.stderr).strip()[-500:]}")
    return CHROMIUM if Path(CHROMIUM).is_file() else shutil.which("chromium")


def start_command(command: str, args: list[str], timeout: float = 180):
    """``python -m simcse COMMAND ARGS --port 0 --device cpu`` (``serve`` or ``demo``) as its own process, once
    ``/health`` says the model (and its index) are loaded: the process and its URL (without a trailing /)."""
    import httpx

    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]), HF_HUB_OFFLINE="1",
               TOKENIZERS_PARALLELISM="false")
    proc = subprocess.Popen([sys.executable, "-m", "simcse", command, *args, "--port", "0", "--device", "cpu"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    line = proc.stdout.readline()
    if "serving" not in line or " at http://" not in line:
        proc.kill()
        raise AssertionError(f"simcse {command} printed no URL: {line!r}; stderr: {proc.stderr.read()[-3000:]}")
    url = line.split(" at ")[1].split()[0].rstrip("/")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/health", timeout=5).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        if proc.poll() is not None:
            break
        time.sleep(0.2)
    proc.kill()
    raise AssertionError(f"simcse {command} did not become ready; stderr: {proc.stderr.read()[-3000:]}")


def stop_command(proc) -> str:
    """Stop a process of :func:`start_command`; return what it wrote to stderr (its log)."""
    proc.terminate()
    try:
        _, err = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
    return err
