"""Image -> per-pixel foreground probability or class map, with any ONNX model that meets the contract."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from .frames import as_rgb
from .model import ModelError, ModelInfo, OnnxModel, check_finite
from .motion import crop_view
from .resize import downscale
from .workspace import Workspace


def make_blob(image: np.ndarray, info: ModelInfo, ws: Workspace | None = None) -> np.ndarray:
    """An image -> the 1 x 3 x h x w float32 input blob of ``info``'s model (stretched, or at the image's aspect for
    ``resize: keep``; channel order, mean/std).

    The one definition of the model's preprocessing, shared by inference and INT8 calibration so they cannot drift.
    With a workspace ``ws`` the blob lives in a reused buffer (valid until the next call with that workspace).
    """
    h, w = info.input_size_for(*image.shape[:2])
    x = downscale(as_rgb(image), (w, h), ws, "seg.in")
    # One OpenCV pass (swap, subtract, scale, to planes): 0.1 ms at 192x192 where numpy's subtract, multiply and
    # transpose took 0.45; the same float32 values (bit for bit with OpenCV 5.0, within 2.4e-7 with 4.8), the mean
    # in the model's channel order.
    params = cv2.dnn.Image2BlobParams(scalefactor=tuple(1.0 / s for s in info.std), size=(w, h), mean=info.mean,
                                      swapRB=info.color == "BGR", ddepth=cv2.CV_32F)
    if ws is None:
        return cv2.dnn.blobFromImageWithParams(x, params)
    return cv2.dnn.blobFromImageWithParams(x, ws.get("seg.blob", (1, 3, h, w)), params)


def probabilities_at(probs_lowres: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """C x h x w class probabilities -> H x W x C at ``shape`` = (H, W, ...) (bilinear, as the runtime upsamples)."""
    up = cv2.resize(probs_lowres.transpose(1, 2, 0), (shape[1], shape[0]), interpolation=cv2.INTER_LINEAR)
    return up[..., None] if up.ndim == 2 else up


def classes_at(probs_lowres: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """C x h x w class probabilities -> most likely class per pixel at ``shape`` = (H, W, ...), H x W uint8.

    Upsampled before the argmax; shared by :class:`Segmenter` and the checkpoint predictor so their scores agree.
    """
    return probabilities_at(probs_lowres, shape).argmax(2).astype(np.uint8)


class Segmenter:
    """Runs a segmentation model on images of any size.

    ``keep`` names the classes that count as foreground (default: the model's own choice, e.g.
    ``person``). ``providers`` picks ONNX Runtime execution providers; ``threads`` caps its threads.
    Predictions may run in several threads at once (each thread has its own scratch space, and ONNX
    Runtime's sessions are thread-safe).
    """

    def __init__(self, model: str | Path = "default", providers: Sequence[str] | None = None,
                 threads: int | None = None, keep: Sequence[str] | None = None) -> None:
        self.model = OnnxModel(model, providers=providers, threads=threads)
        self.threads = threads  # ONNX Runtime's intra-op threads; None: its default (all cores)
        self.info = self.model.info
        self.keep = self._keep_indices(keep)
        self._local = threading.local()  # a workspace per thread: several threads may segment at once

    @property
    def classes(self) -> tuple[str, ...]:
        """Class names, index order."""
        return self.info.classes

    def _keep_indices(self, keep: Sequence[str] | None) -> list[int]:
        names = list(dict.fromkeys(keep)) if keep else list(self.info.foreground)  # each class once
        unknown = [k for k in names if k not in self.info.classes]
        if unknown:
            raise ModelError(f"{self.model.path}: unknown class(es) {', '.join(unknown)}; "
                             f"this model has {', '.join(self.info.classes)}")
        return [self.info.classes.index(k) for k in names]

    def set_keep(self, keep: Sequence[str] | None) -> None:
        """Change which classes count as foreground."""
        self.keep = self._keep_indices(keep)

    def probabilities_lowres(self, image: np.ndarray) -> np.ndarray:
        """Class probabilities at the network's resolution, C x h x w float32 (h x w: ``info.input_size_for`` the
        image).

        A model output holding NaN or infinity raises :class:`~segblur.runtime.model.ModelOutputError` (a ValueError).
        """
        ws = getattr(self._local, "ws", None)
        if ws is None:
            ws = self._local.ws = Workspace()
        out = self.model.run(make_blob(image, self.info, ws))[0]
        check_finite(out, f"{self.model.path}: the model's output")  # 70-80 us at 2x192x192 on 2 loaded cores
        if self.info.output_kind == "logits":
            out = out - out.max(0, keepdims=True)
            np.exp(out, out=out)
            out /= out.sum(0, keepdims=True)
        return out.astype(np.float32, copy=False)

    def predict_lowres(self, image: np.ndarray, keep: Sequence[str] | None = None,
                       box: tuple[int, int, int, int] | None = None) -> np.ndarray:
        """Foreground probability at the network's resolution (h x w float32 in [0, 1]); of the part ``box`` =
        (x0, y0, x1, y1) of the image when given (a crop around the subject)."""
        probs = self.probabilities_lowres(crop_view(np.asarray(image), box))
        idx = self._keep_indices(keep) if keep is not None else self.keep
        fg = probs[idx[0]] if len(idx) == 1 else probs[idx].sum(0)
        return np.clip(fg, 0.0, 1.0)

    def predict(self, image: np.ndarray, keep: Sequence[str] | None = None) -> np.ndarray:
        """Foreground probability at the image's size: H x W float32 in [0, 1] (bilinear upsampling)."""
        a = np.asarray(image)
        fg = self.predict_lowres(a, keep)
        return cv2.resize(fg, (a.shape[1], a.shape[0]), interpolation=cv2.INTER_LINEAR)

    def predict_classes(self, image: np.ndarray) -> np.ndarray:
        """Most likely class index per pixel at the image's size (H x W uint8)."""
        a = np.asarray(image)
        return classes_at(self.probabilities_lowres(a), a.shape)
