"""Training: the loop, checkpoints and sample grids."""
