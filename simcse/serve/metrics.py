"""The Prometheus metrics of ``simcse serve`` (``GET /metrics``), on a registry of the app's own."""
from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)


class Metrics:
    """Requests by endpoint and status, latency histograms, batch sizes, queue depth, inputs and tokens."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("simcse_requests", "HTTP requests answered, by endpoint and status code",
                                ["endpoint", "status"], registry=r)
        self.latency = Histogram("simcse_request_latency_seconds", "Time from a request's arrival to its answer",
                                 ["endpoint"], buckets=LATENCY_BUCKETS, registry=r)
        self.batch_sentences = Histogram("simcse_batch_sentences", "Sentences per merged forward pass",
                                         buckets=BATCH_BUCKETS, registry=r)
        self.batch_requests = Histogram("simcse_batch_requests", "Requests merged into one forward pass",
                                        buckets=BATCH_BUCKETS, registry=r)
        self.queue_depth = Gauge("simcse_queue_depth", "Requests waiting for the model", registry=r)
        self.rejected = Counter("simcse_queue_rejected", "Requests refused with 429 because the queue was full",
                                registry=r)
        self.inputs = Counter("simcse_inputs", "Strings embedded or searched", registry=r)
        self.tokens = Counter("simcse_tokens", "Tokens embedded (usage.prompt_tokens)", registry=r)
        self.ready = Gauge("simcse_model_ready", "1 once the model is loaded", registry=r)

    def render(self) -> bytes:
        return generate_latest(self.registry)
