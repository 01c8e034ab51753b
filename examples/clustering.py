"""Cluster sentences by meaning: SimCSE embeddings + scikit-learn (k-means or agglomerative).

    python examples/clustering.py                                  # the bundled example corpus
    python examples/clustering.py --file my.txt --n_clusters 5 --method agglomerative
    python examples/clustering.py --limit 300 --json clusters.json

For each cluster it prints its size and the sentences nearest to its centre.
"""
from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

import numpy as np
from sklearn.cluster import AgglomerativeClustering, KMeans

from simcse import SimCSE
from simcse.cli.common import positive_int
from simcse.defaults import bundled_corpus
from simcse.outputs import output_problem
from simcse.tool import read_sentence_file


def cluster(embeddings: np.ndarray, n_clusters: int, method: str = "kmeans", seed: int = 0) -> np.ndarray:
    """A cluster id per row of ``embeddings`` (unit vectors): k-means, or average-linkage on cosine distance."""
    if not 1 <= n_clusters <= len(embeddings):
        raise ValueError(f"--n_clusters must be from 1 to the number of sentences ({len(embeddings)}), got {n_clusters}")
    if method == "kmeans":
        return KMeans(n_clusters=n_clusters, n_init=10, random_state=seed).fit_predict(embeddings)
    if method == "agglomerative":
        return AgglomerativeClustering(n_clusters=n_clusters, metric="cosine", linkage="average").fit_predict(embeddings)
    raise ValueError(f"unknown --method {method!r}: use kmeans or agglomerative")


def main(argv: list[str] | None = None) -> int:
    """Embed, cluster and print the clusters (largest first)."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--file", default=str(bundled_corpus()), help="text file, one sentence per line")
    p.add_argument("--limit", type=positive_int, default=None, help="cluster a random sample of this many sentences")
    p.add_argument("--n_clusters", type=positive_int, default=12)
    p.add_argument("--method", choices=("kmeans", "agglomerative"), default="kmeans")
    p.add_argument("--show", type=positive_int, default=5, help="sentences shown per cluster (nearest to its centre)")
    p.add_argument("--model", default=None, help="model folder (default: all-MiniLM-L6-v2)")
    p.add_argument("--json", default=None, help="also write the clusters as JSON to this file")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --json file")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    if args.json:  # checked before any work
        problem = output_problem(args.json, args.overwrite, [args.file], "the --file it reads", "clusters.json", "--json")
        if problem:
            p.error(problem)

    sentences = read_sentence_file(args.file)
    if args.limit is not None and args.limit < len(sentences):
        sentences = random.Random(args.seed).sample(sentences, args.limit)
    model = SimCSE(args.model)
    emb = model.encode(sentences, return_numpy=True, show_progress_bar=len(sentences) > 1000)
    labels = cluster(emb, args.n_clusters, args.method, args.seed)

    clusters = []
    for c in set(labels.tolist()):
        members = np.flatnonzero(labels == c)
        centre = emb[members].mean(axis=0)
        order = members[np.argsort(-(emb[members] @ centre))]  # nearest to the centre first
        clusters.append([sentences[i] for i in order])
    clusters.sort(key=len, reverse=True)
    for k, members in enumerate(clusters, 1):
        print(f"\ncluster {k} ({len(members)} sentences)")
        for s in members[: args.show]:
            print(f"  - {s}")
        if len(members) > args.show:
            print(f"  ... and {len(members) - args.show} more")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump([{"size": len(m), "sentences": m} for m in clusters], f, indent=2, ensure_ascii=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
