"""Servers for the tests (imported by the test modules; not a conftest.py, which would shadow tests/conftest.py
for `from conftest import ...`): ``simcse serve``'s app on a free port, in a thread, with a tiny random BERT."""
from __future__ import annotations

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

CORPUS = ["A man is playing a guitar.", "The cat sleeps on the sofa.", "Stocks fell sharply on Monday.",
          "How do I reset my password?", "A woman is slicing an onion.", "The weather is sunny today."]


def start(model, **settings):
    """A running server (context manager giving its URL) for ``model`` with these ServeConfig settings."""
    from simcse.serve.app import create_app
    from simcse.serve.config import ServeConfig
    from simcse.serve.server import ServerThread

    config = ServeConfig(model=str(model.model_name_or_path), port=0, **settings)
    return ServerThread(create_app(config, model=model), config)


@pytest.fixture(scope="session")
def tiny_model(tiny_bert_path):
    from simcse import SimCSE

    model = SimCSE(str(tiny_bert_path), device="cpu")
    model.build_index(CORPUS, use_faiss=False)
    return model


@pytest.fixture(scope="module")
def tiny_server(tiny_model):
    """URL of a server of the tiny model (named ``tiny``) with an index of :data:`CORPUS`."""
    with start(tiny_model, served_model_name="tiny", max_inputs=64, max_input_chars=2000, max_body_bytes=64 * 1024,
               body_timeout=1.0, header_timeout=2.0) as url:
        yield url
