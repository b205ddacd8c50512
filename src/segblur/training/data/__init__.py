"""Datasets and augmentation for training (torch side)."""
