"""Person-segmentation evaluation on the binary person sets, without torch.

Shared by the integration tests, ``benchmarks/quality.py`` (segblur vs the MediaPipe reference)
and the training recipe, so every number in the model card comes from the same code and splits.

Splits (see each dataset's README in ``../shared/data``):
- flickr-portraits-shen2016 ``test``: the authors' test list, one image of each near-duplicate pair;
  ``train``: the authors' train list minus duplicates of test images; ``val``: the unlisted ids.
- human-segmentation-vikram (no official split): ids sorted, duplicate 0270 dropped, every 7th is
  ``test``, the rest ``train``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .media.images import read_image
from .metrics import ConfusionMatrix

SHEN = "flickr-portraits-shen2016"
VIKRAM = "human-segmentation-vikram"
# Near-duplicate pairs listed in flickr-portraits-shen2016/README.md.
SHEN_DUPLICATES = [("00202", "01167"), ("00203", "01175"), ("00971", "00990"), ("01016", "01023"),
                   ("01179", "01182"), ("02050", "02051"), ("02076", "02359")]
VIKRAM_DUPLICATE = "0270"  # same photo as 0102


def read_ids(path: Path) -> list[str]:
    """Ids listed one per line in a split file (blank lines ignored)."""
    return [s.strip() for s in Path(path).read_text().splitlines() if s.strip()]


def shen_splits(root: Path) -> dict[str, list[str]]:
    """Shen train / val / test ids with near-duplicates removed so no image appears in two splits."""
    root = Path(root)
    train = read_ids(root / "splits" / "train.txt")
    test = read_ids(root / "splits" / "test.txt")
    val = read_ids(root / "splits" / "unlisted.txt")
    partner = {}
    for a, b in SHEN_DUPLICATES:
        partner[a], partner[b] = b, a
    test_clean: list[str] = []
    for i in test:
        if partner.get(i) not in test_clean:
            test_clean.append(i)
    taken = set(test_clean) | {partner[i] for i in test_clean if i in partner}
    train_clean = [i for i in train if i not in taken]
    taken |= set(train_clean) | {partner[i] for i in train_clean if i in partner}
    return {"train": train_clean, "val": [i for i in val if i not in taken], "test": test_clean}


def vikram_splits(root: Path, holdout_every: int = 7) -> dict[str, list[str]]:
    """Vikram: every ``holdout_every``-th id (sorted, duplicate dropped) is ``test``, the rest ``train``."""
    ids = sorted(p.stem for p in (Path(root) / "masks").glob("*.png") if p.stem != VIKRAM_DUPLICATE)
    test = ids[::holdout_every]
    held = set(test)
    return {"train": [i for i in ids if i not in held], "test": test}


def person_items(data_root: Path, dataset: str, split: str) -> list[tuple[str, Path, Path]]:
    """(id, image path, mask path) for a split of one of the binary person sets."""
    root = Path(data_root) / dataset
    splits = shen_splits(root) if dataset == SHEN else vikram_splits(root) if dataset == VIKRAM else None
    if splits is None:
        raise ValueError(f"unknown person dataset {dataset!r} (use {SHEN} or {VIKRAM})")
    if split not in splits:
        raise ValueError(f"{dataset} has no split {split!r} (splits: {', '.join(splits)})")
    return [(i, root / "images" / f"{i}.jpg", root / "masks" / f"{i}.png") for i in splits[split]]


@dataclass
class PersonScore:
    """Dataset-level person IoU (total intersection / total union) and friends."""

    images: int
    iou: float
    mean_image_iou: float
    pixel_accuracy: float
    mean_iou: float  # over background and person

    def as_dict(self) -> dict[str, float]:
        return {"images": self.images, "person_iou": round(self.iou, 4),
                "mean_image_iou": round(self.mean_image_iou, 4), "pixel_accuracy": round(self.pixel_accuracy, 4),
                "mean_iou": round(self.mean_iou, 4)}


def evaluate_person(predict: Callable[[np.ndarray], np.ndarray],
                    items: Iterable[tuple[str, Path, Path]]) -> PersonScore:
    """Score ``predict(rgb) -> bool HxW person mask`` (at the image's size) against 0/255 ground truth."""
    from .metrics import binary_iou

    cm = ConfusionMatrix(2)
    per_image = []
    for _, img_path, mask_path in items:
        img = read_image(img_path)
        gt = read_image(mask_path)[..., 0] > 127
        pred = np.asarray(predict(img), bool)
        if pred.shape != gt.shape:
            raise ValueError(f"{img_path}: prediction {pred.shape} differs from mask {gt.shape}")
        cm.update(gt, pred)
        per_image.append(binary_iou(gt, pred))
    m = cm.compute(["background", "person"])
    return PersonScore(images=len(per_image), iou=m["per_class_iou"]["person"] or 0.0,
                       mean_image_iou=float(np.mean(per_image)) if per_image else float("nan"),
                       pixel_accuracy=m["pixel_accuracy"], mean_iou=m["mean_iou"])
