"""Training: the InfoNCE loss, cross-GPU gathering, data reading and collation, the Trainer, and the run."""
