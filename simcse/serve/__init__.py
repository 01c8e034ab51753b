"""``simcse serve``: an OpenAI-compatible embedding and search server (FastAPI on uvicorn).

:mod:`.config` holds the limits, :mod:`.batcher` merges concurrent requests into one forward pass,
:mod:`.requests` parses and checks request bodies (bounded JSON, OpenAI-style errors),
:mod:`.metrics` the Prometheus metrics, :mod:`.app` the FastAPI app and :mod:`.server` the uvicorn
server with its header-read timeout. Only :mod:`.app` and :mod:`.server` import the ``[serve]``
extra (fastapi, uvicorn); the command imports them when it runs.
"""
