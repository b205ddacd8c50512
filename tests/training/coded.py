"""Colour-coded (image, mask) pairs for the augmentation tests: class c is painted COLOURS[c], so alignment of
image and mask can be read back from the pixels."""

from __future__ import annotations

import cv2
import numpy as np

COLOURS = np.array([[0, 0, 255], [0, 255, 0], [255, 0, 0]], np.uint8)


def coded_pair(h: int = 60, w: int = 80, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A mask of 3 classes in random 10x10 blocks and an image whose colour is the class colour."""
    rng = np.random.default_rng(seed)
    blocks = rng.integers(0, 3, (h // 10 + 1, w // 10 + 1)).astype(np.uint8)
    mask = np.kron(blocks, np.ones((10, 10), np.uint8))[:h, :w]
    return COLOURS[mask], mask


def assert_aligned(image: np.ndarray, mask: np.ndarray) -> None:
    """Away from class edges, every labelled pixel's strongest channel names its class."""
    checked = 0
    for c in range(3):
        # Pixels outside the crop count as "other class", since a boundary may lie just outside it.
        inner = cv2.erode((mask == c).astype(np.uint8), np.ones((5, 5), np.uint8), borderType=cv2.BORDER_CONSTANT,
                          borderValue=0).astype(bool)
        if inner.any():
            dominant = 2 - np.argmax(image[inner].astype(int), axis=1)  # R -> 2, G -> 1, B -> 0
            assert (dominant == c).all(), f"class {c}: {np.mean(dominant != c):.3f} misaligned"
            checked += int(inner.sum())
    assert checked > 0
