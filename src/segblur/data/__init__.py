"""Torch-free segmentation datasets on disk (numpy + OpenCV): used by training, ``evaluate`` and the recipes.

Kinds: ``voc`` (Pascal VOC 2012), ``lfw`` (LFW Part Labels), ``folder`` (images/ + masks/) and ``person``
(mixes of the binary person sets, with teacher masks for sets that have none).
"""

from .backgrounds import load_backgrounds
from .base import DatasetError, Sample, SegDataset
from .folder import FolderDataset
from .kinds import DATASET_KINDS, open_dataset, resolve_spec
from .lfw import LFW_CLASSES, LfwDataset
from .masks import read_png_indices
from .person import (
    DAVIS,
    GESTURE,
    PEOPLE_HD,
    SHEN,
    SHEN_DUPLICATES,
    VIKRAM,
    MixEntry,
    PersonDataset,
    normalize_mix,
    person_items,
    set_splits,
    shen_splits,
    vikram_splits,
)
from .voc import VOC_CLASSES, VocDataset, voc_colormap

__all__ = ["DATASET_KINDS", "DAVIS", "GESTURE", "LFW_CLASSES", "PEOPLE_HD", "SHEN", "SHEN_DUPLICATES", "VIKRAM",
           "VOC_CLASSES", "DatasetError", "FolderDataset", "LfwDataset", "MixEntry", "PersonDataset", "Sample",
           "SegDataset", "VocDataset", "load_backgrounds", "normalize_mix", "open_dataset", "person_items",
           "read_png_indices", "resolve_spec", "set_splits", "shen_splits", "vikram_splits", "voc_colormap"]
