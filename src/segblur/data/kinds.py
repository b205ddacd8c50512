"""Dataset specs: ``KIND:PATH`` strings (or a person mix mapping) -> the dataset, and paths relative to a recipe."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .base import DatasetError, SegDataset
from .folder import FolderDataset
from .lfw import LfwDataset
from .person import PersonDataset, join_path, normalize_mix, open_person
from .voc import VocDataset

DATASET_KINDS = ("voc", "lfw", "folder", "person")


def resolve_spec(spec: str | Mapping[str, Any], base: Path | str) -> str | dict[str, Any]:
    """A dataset spec with its relative paths taken from ``base`` (a recipe's folder) instead of the working folder."""
    if isinstance(spec, Mapping):
        return normalize_mix(spec, base, "data")
    kind, sep, rest = str(spec).partition(":")
    if not sep or kind not in DATASET_KINDS or not rest:
        return spec  # open_dataset names what is wrong
    return f"{kind}:{join_path(base, rest)}"


def open_dataset(spec: str | Mapping[str, Any]) -> SegDataset:
    """Open ``"voc:PATH"``, ``"lfw:PATH"``, ``"folder:PATH"``, ``"person:DIR|MIX.yaml"`` or a person mix mapping.

    DatasetError (one line) on a bad spec or layout.
    """
    if isinstance(spec, Mapping):
        return PersonDataset.from_mix(normalize_mix(spec, ".", "data"))
    kind, sep, rest = str(spec).partition(":")
    if not sep or kind not in DATASET_KINDS:
        raise DatasetError(f"{spec}: bad dataset spec (expected KIND:PATH with KIND one of {', '.join(DATASET_KINDS)})")
    if not rest:
        raise DatasetError(f"{spec}: bad dataset spec (no path after '{kind}:')")
    path = Path(rest).expanduser()
    if not path.exists():
        raise DatasetError(f"{path}: no such folder")
    if kind == "person":
        return open_person(path)
    if not path.is_dir():
        raise DatasetError(f"{path}: not a folder")
    if kind == "voc":
        root = VocDataset.locate(path)
        if root is None:
            raise DatasetError(f"{path}: not a Pascal VOC 2012 folder (expected JPEGImages/ and SegmentationClass/ "
                               "in it, in VOC2012/ or in VOCdevkit/VOC2012/)")
        return VocDataset(root)
    if kind == "lfw":
        original = LfwDataset.detect(path)
        if original is None:
            raise DatasetError(f"{path}: not an LFW Part Labels folder (expected images/ + masks/, or "
                               "parts_lfw_funneled_gt_images/ + lfw_funneled/)")
        return LfwDataset(path, original)
    if not (path / "images").is_dir():
        raise DatasetError(f"{path}: not an image folder dataset (expected images/ and masks/ in it)")
    if not (path / "masks").is_dir():
        raise DatasetError(f"{path / 'masks'}: no masks folder (a folder dataset needs masks/<stem>.png, class ids, "
                           "for every image)")
    return FolderDataset(path)
