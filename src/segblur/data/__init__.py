"""Torch-free segmentation datasets on disk (numpy + OpenCV): used by training, ``evaluate`` and the recipes."""

from .datasets import (
    DATASET_KINDS,
    LFW_CLASSES,
    VOC_CLASSES,
    DatasetError,
    FolderDataset,
    LfwDataset,
    Sample,
    SegDataset,
    VocDataset,
    open_dataset,
    read_png_indices,
    voc_colormap,
)

__all__ = ["DATASET_KINDS", "LFW_CLASSES", "VOC_CLASSES", "DatasetError", "FolderDataset", "LfwDataset", "Sample",
           "SegDataset", "VocDataset", "open_dataset", "read_png_indices", "voc_colormap"]
