"""Predict with a training checkpoint exactly as the exported ONNX model would run in the runtime.

The checkpoint's export metadata (:func:`~segblur.training.export.checkpoint_metadata`) describes its input, so
the image goes through the runtime's own preprocessing (:func:`~segblur.runtime.segmenter.make_blob`: stretched
with the runtime's downscaling, channel order, mean/std), the network, a softmax, and the class probabilities
are upsampled bilinearly to the image's size before the argmax, as
:meth:`segblur.runtime.segmenter.Segmenter.predict_classes` does. So ``segblur evaluate`` gives
the same scores for a checkpoint and for its export.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..runtime.model import ModelInfo, parse_metadata
from ..runtime.segmenter import classes_at, make_blob, probabilities_at
from ..runtime.workspace import Workspace
from .export import checkpoint_metadata, model_from_checkpoint


class CheckpointError(ValueError):
    """A checkpoint that cannot be used; the message is one line naming the file."""


class CheckpointPredictor:
    """A checkpoint's network behind the :class:`~segblur.runtime.segmenter.Segmenter` prediction interface."""

    def __init__(self, path: str | Path, *, threads: int | None = None, device: str = "cpu") -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise CheckpointError(f"{self.path}: no such checkpoint file")
        try:
            model, ck = model_from_checkpoint(self.path)
            self.info: ModelInfo = parse_metadata(checkpoint_metadata(ck, self.path.stem), str(self.path))
        except Exception as e:  # torch.load, state-dict loading and the metadata check raise many kinds of error
            reason = " ".join(str(e).split())[:200] or type(e).__name__
            raise CheckpointError(f"{self.path}: not a usable segblur checkpoint ({reason})") from None
        if threads:
            torch.set_num_threads(int(threads))
        self.classes: tuple[str, ...] = self.info.classes
        self.foreground: tuple[str, ...] = self.info.foreground
        self.input_size: tuple[int, int] = self.info.input_size
        self.name = self.path.stem
        self.architecture = self.info.architecture
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()
        self._ws = Workspace()

    def probabilities_lowres(self, image: np.ndarray) -> np.ndarray:
        """Class probabilities at the network's resolution, C x h x w float32 (image stretched to fit)."""
        blob = torch.from_numpy(make_blob(image, self.info, self._ws)).to(self.device)
        with torch.inference_mode():
            probs = torch.softmax(self.model(blob).float(), dim=1)[0]
        return probs.cpu().numpy()

    def probabilities(self, image: np.ndarray) -> np.ndarray:
        """Class probabilities at the image's size, H x W x C float32 (bilinear upsampling)."""
        a = np.asarray(image)
        return probabilities_at(self.probabilities_lowres(a), a.shape)

    def predict_classes(self, image: np.ndarray) -> np.ndarray:
        """Most likely class index per pixel at the image's size (H x W uint8)."""
        a = np.asarray(image)
        return classes_at(self.probabilities_lowres(a), a.shape)
