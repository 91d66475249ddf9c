"""Training: batches, the loop with named hooks, checkpoints, the run folder and its writers."""
