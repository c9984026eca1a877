"""Running training: the outer loop, checkpoints, resumption, the finiteness guard, devices,
shared pre-training, workdirs and the budget line."""
