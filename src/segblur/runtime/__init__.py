"""Inference wing: numpy + OpenCV + ONNX Runtime only (never torch)."""

from .model import ModelError, ModelInfo, OnnxModel
from .pipeline import Pipeline
from .refine import RefineConfig
from .segmenter import Segmenter

__all__ = ["ModelError", "ModelInfo", "OnnxModel", "Pipeline", "RefineConfig", "Segmenter"]
