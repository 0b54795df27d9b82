"""Training policy: annealing schedules, the training loop, checkpoints."""
