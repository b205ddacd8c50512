"""Experiment tracking: a CSV log always, TensorBoard by default, Weights & Biases on request.

One :class:`Tracker` fans each record out to every backend, so the training loop logs once.
W&B honours ``WANDB_MODE=offline`` (runs are synced later with ``wandb sync``); a missing optional
package is a one-line error before training starts, not a crash after the first epoch.
"""

from __future__ import annotations

import csv
import io
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..data import voc_colormap
from ..io import write_atomic

log = logging.getLogger("segblur")

_PALETTE = voc_colormap()  # class 0 black, then distinct colours for up to 256 classes


def colorize(labels: np.ndarray, ignore_index: int = 255) -> np.ndarray:
    """Class map (H x W ints) -> RGB picture; ignored pixels are white."""
    lab = np.asarray(labels).astype(np.int64)
    rgb = _PALETTE[np.clip(lab, 0, 255)]
    rgb[lab == ignore_index] = 255
    return rgb


def comparison_grid(rows: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]], ignore_index: int = 255,
                    height: int = 160) -> np.ndarray:
    """Stack ``image | ground truth | prediction`` rows (RGB uint8, class maps) into one RGB picture."""
    import cv2

    out = []
    for img, gt, pred in rows:
        h, w = gt.shape
        scale = height / h
        size = (max(1, round(w * scale)), height)
        tiles = [cv2.resize(img, size, interpolation=cv2.INTER_AREA),
                 cv2.resize(colorize(gt, ignore_index), size, interpolation=cv2.INTER_NEAREST),
                 cv2.resize(colorize(pred, ignore_index), size, interpolation=cv2.INTER_NEAREST)]
        out.append(np.concatenate(tiles, axis=1))
    width = max(r.shape[1] for r in out)
    out = [np.pad(r, ((0, 2), (0, width - r.shape[1]), (0, 0)), constant_values=255) for r in out]
    return np.concatenate(out, axis=0)


class Tracker:
    """Logs scalars and comparison pictures of one run to ``run_dir/log.csv``, TensorBoard and W&B.

    ``resume`` (the number of epochs the resumed checkpoint holds) continues an existing CSV instead of replacing
    it, keeping exactly the rows of those epochs: a row logged by a run killed before its checkpoint was written
    is dropped (that epoch runs again and logs again), so the log holds every finished epoch once.
    """

    def __init__(self, run_dir: str | Path, config: Mapping[str, Any], *, tensorboard: bool = True,
                 wandb: bool = False, wandb_project: str = "segblur", resume: int | None = None) -> None:
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.csv_path = self.run_dir / "log.csv"
        self._fields: list[str] | None = None
        if resume is not None and self.csv_path.exists():
            self._fields = self._keep_rows(resume)
        elif self.csv_path.exists():
            self.csv_path.unlink()
        self.tb = None
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError as e:  # tensorboard is part of the train extra, but may be missing
                raise RuntimeError("TensorBoard logging needs the tensorboard package (pip install tensorboard); "
                                   "or pass --no-tensorboard") from e
            self.tb = SummaryWriter(log_dir=str(self.run_dir / "tensorboard"))
        self.wandb_run = None
        if wandb:
            try:
                import wandb as wandb_mod
            except ImportError as e:
                raise RuntimeError("--wandb needs the wandb package (pip install wandb)") from e
            self.wandb_run = wandb_mod.init(project=wandb_project, name=self.run_dir.name, dir=str(self.run_dir),
                                            config=dict(config), resume="allow",
                                            mode=os.environ.get("WANDB_MODE", "online"))

    def _keep_rows(self, epochs: int) -> list[str] | None:
        """Rewrite the CSV (atomically) with the rows of epochs 1..``epochs`` only; returns its header."""
        with open(self.csv_path, newline="") as f:
            rows = list(csv.reader(f))
        if not rows:
            return None
        kept = [r for r in rows[1:] if r and r[0].isdigit() and int(r[0]) <= epochs]
        if len(kept) != len(rows) - 1:
            text = io.StringIO()
            csv.writer(text).writerows([rows[0], *kept])
            write_atomic(self.csv_path, text.getvalue().encode())
        return rows[0]

    def log(self, step: int, values: Mapping[str, float]) -> None:
        """One row of scalars (e.g. an epoch's losses, metrics and learning rate)."""
        row = {"epoch": step, **{k: v for k, v in values.items()}}
        if self._fields is None:
            self._fields = list(row)
            with open(self.csv_path, "w", newline="") as f:
                csv.writer(f).writerow(self._fields)
        with open(self.csv_path, "a", newline="") as f:
            csv.writer(f).writerow([_fmt(row.get(k)) for k in self._fields])
        for k, v in values.items():
            if v is None or not np.isfinite(v):
                continue
            if self.tb is not None:
                self.tb.add_scalar(k, v, step)
        if self.wandb_run is not None:
            self.wandb_run.log({k: v for k, v in values.items() if v is not None}, step=step)

    def image(self, tag: str, step: int, rgb: np.ndarray) -> None:
        """An RGB uint8 picture (e.g. a :func:`comparison_grid`)."""
        if self.tb is not None:
            self.tb.add_image(tag, rgb, step, dataformats="HWC")
        if self.wandb_run is not None:
            import wandb as wandb_mod

            self.wandb_run.log({tag: wandb_mod.Image(rgb)}, step=step)

    def close(self) -> None:
        """Flush and close every backend."""
        if self.tb is not None:
            self.tb.close()
            self.tb = None
        if self.wandb_run is not None:
            self.wandb_run.finish()
            self.wandb_run = None


def _fmt(v: Any) -> Any:
    if isinstance(v, float):
        return f"{v:.6g}"
    return "" if v is None else v
