"""Predict with a training checkpoint exactly as the exported ONNX model would run in the runtime.

The image is stretched to the model's input size with the runtime's own downscaling, normalised
with the checkpoint's mean/std (0-255 units), run through the network, softmaxed, and the class
probabilities are upsampled bilinearly to the image's size before the argmax, as
:meth:`segblur.runtime.segmenter.Segmenter.predict_classes` does. So ``segblur evaluate`` gives
the same scores for a checkpoint and for its export.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..runtime.resize import downscale
from ..runtime.segmenter import as_rgb, classes_at, probabilities_at
from ..runtime.workspace import Workspace
from .export import model_from_checkpoint


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
            cfg = ck["config"]
            self.classes: tuple[str, ...] = tuple(str(c) for c in cfg["classes"])
            self.foreground: tuple[str, ...] = tuple(cfg.get("foreground") or self.classes[1:])
            size = cfg["image_size"]
            self.input_size: tuple[int, int] = (int(size), int(size)) if np.isscalar(size) else (
                int(size[0]), int(size[1]))
            mean = np.asarray(cfg["mean"], np.float32).reshape(1, 1, 3)
            std = np.asarray(cfg["std"], np.float32).reshape(1, 1, 3)
        except CheckpointError:
            raise
        except Exception as e:  # torch.load and state-dict loading raise many kinds of error
            reason = " ".join(str(e).split())[:200] or type(e).__name__
            raise CheckpointError(f"{self.path}: not a usable segblur checkpoint ({reason})") from None
        if threads:
            torch.set_num_threads(int(threads))
        self.name = self.path.stem
        self.architecture = str(cfg.get("arch", "unknown"))
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()
        self._mean, self._inv_std = mean, 1.0 / std
        self._ws = Workspace()

    def probabilities_lowres(self, image: np.ndarray) -> np.ndarray:
        """Class probabilities at the network's resolution, C x h x w float32 (image stretched to fit)."""
        h, w = self.input_size
        x = downscale(as_rgb(image), (w, h), self._ws, "ckpt.in")
        f = (x.astype(np.float32) - self._mean) * self._inv_std
        blob = torch.from_numpy(np.ascontiguousarray(f.transpose(2, 0, 1)[None])).to(self.device)
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
