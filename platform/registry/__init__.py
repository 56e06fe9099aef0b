"""Datasets, clips, checkpoints, training and generation runs: what the studies are built from."""
