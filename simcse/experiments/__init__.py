"""Experiments: the reproduction table and ablations, result provenance, alignment/uniformity analysis."""
