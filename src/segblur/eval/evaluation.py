"""Evaluation without torch: any segmentation model or a folder of predicted masks on a dataset, and
the person-segmentation scores of the binary person sets.

:func:`evaluate_segmenter` and :func:`evaluate_predictions` score predictions on a
:class:`~segblur.data.SegDataset` split with :class:`~segblur.eval.metrics.SegmentationMetrics`
(IoU, accuracies, boundary F1); ``segblur evaluate`` calls them.

The person functions are shared by the integration tests, ``benchmarks/quality.py`` (segblur vs the MediaPipe reference)
and the training recipe, so every number in the model card comes from the same code and splits.

The person sets' splits are read from their folders by :mod:`segblur.data.person` (``person_items``,
``SHEN``, ``VIKRAM`` are imported here for the callers of this module).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ..data import DatasetError, SegDataset
from ..data.masks import read_mask_file, single_channel
from ..data.person import SHEN, VIKRAM, person_items  # noqa: F401 - the person scorers' splits
from ..media.images import ImageError, read_image, write_image
from ..progress import Progress
from .metrics import BOUNDARY_TOLERANCE, ConfusionMatrix, SegmentationMetrics
from .predictions import prediction_image, read_prediction

# Width of the band around the true outline where an error counts as an edge error: a share of the image's diagonal
# (1 %: 15 px at 1280x720), wide enough for a soft or misplaced outline, narrow enough that a missed arm or a kept
# background object counts as away from it.
EDGE_BAND = 0.01


@dataclass
class PersonScore:
    """Dataset-level person IoU (total intersection / total union) and friends.

    ``edge_loss + far_loss = 1 - iou``: the share of the union the model got wrong within :data:`EDGE_BAND` of the
    true outline (where the edge lies) and farther from it (whole parts missed, background kept), so two models'
    gap can be told apart as a matter of outline or of recognition.
    """

    images: int
    iou: float
    mean_image_iou: float
    pixel_accuracy: float
    mean_iou: float  # over background and person
    edge_loss: float = float("nan")
    far_loss: float = float("nan")

    def as_dict(self) -> dict[str, float]:
        return {"images": self.images, "person_iou": round(self.iou, 4),
                "mean_image_iou": round(self.mean_image_iou, 4), "pixel_accuracy": round(self.pixel_accuracy, 4),
                "mean_iou": round(self.mean_iou, 4), "edge_loss": round(self.edge_loss, 4),
                "far_loss": round(self.far_loss, 4)}


def near_edge(truth: np.ndarray, band: float = EDGE_BAND) -> np.ndarray:
    """Pixels within ``band`` x the image diagonal (at least 1 px) of the outline of the bool mask ``truth``."""
    h, w = truth.shape
    outline = cv2.morphologyEx(truth.astype(np.uint8), cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8))
    if not outline.any():
        return np.zeros((h, w), bool)
    distance = cv2.distanceTransform(1 - outline, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    return distance <= max(1.0, band * float(np.hypot(h, w)))


def evaluate_person(predict: Callable[[np.ndarray], np.ndarray],
                    items: Iterable[tuple[str, Path, Path]], *, teacher: bool = False,
                    region: bool = False) -> PersonScore:
    """Score ``predict(rgb) -> bool HxW person mask`` (at the image's size) against the masks of ``items``.

    Masks are 0/255 ground truth, or with ``teacher`` teacher labels (0 background, 1 person, 255 ignored).
    ``region`` counts only the box around the labelled person (:func:`~segblur.eval.regions.subject_region`),
    for sets such as davis-dance-twirl whose masks label one dancer and not the people behind her.
    """
    from .metrics import binary_iou
    from .regions import subject_region

    cm = ConfusionMatrix(2)
    per_image = []
    edge_errors = far_errors = union = 0
    for _, img_path, mask_path in items:
        img = read_image(img_path)
        raw = single_channel(read_mask_file(mask_path), mask_path)  # the datasets' mask reader
        gt = raw.copy() if teacher else (raw > 127).astype(np.uint8)
        if region and (gt == 1).any():  # a frame without the subject is scored whole
            gt[~subject_region(gt == 1)] = 255
        pred = np.asarray(predict(img), bool)
        if pred.shape != gt.shape:
            raise ValueError(f"{img_path}: prediction {pred.shape} differs from mask {gt.shape}")
        cm.update(gt, pred)
        keep = gt != 255
        truth = gt == 1
        per_image.append(binary_iou(truth[keep], pred[keep]))
        wrong = (pred != truth) & keep
        near = near_edge(truth)
        edge_errors += int(np.count_nonzero(wrong & near))
        far_errors += int(np.count_nonzero(wrong & ~near))
        union += int(np.count_nonzero((truth | pred) & keep))
    m = cm.compute(["background", "person"])
    return PersonScore(images=len(per_image), iou=m["per_class_iou"]["person"] or 0.0,
                       mean_image_iou=float(np.mean(per_image)) if per_image else float("nan"),
                       pixel_accuracy=m["pixel_accuracy"], mean_iou=m["mean_iou"],
                       edge_loss=edge_errors / union if union else 0.0, far_loss=far_errors / union if union else 0.0)


# ---------------------------------------------------------------------------------------------- any dataset


class EvaluationError(ValueError):
    """A problem that stops a whole evaluation (classes that do not fit, no such folder); one line."""


@dataclass
class ClassMapping:
    """How model class ids and dataset class ids map onto the evaluated classes (256-entry lookup tables)."""

    classes: list[str]
    truth: np.ndarray  # dataset id -> evaluated id (the ignore index stays the ignore index)
    prediction: np.ndarray  # model id -> evaluated id
    folded: list[str] = field(default_factory=list)  # class names counted as background
    to_dataset: np.ndarray | None = None  # evaluated id -> dataset id
    by_index: str | None = None  # set when the classes were matched by their order, not their names: how

    def note(self) -> str | None:
        """One line describing a match by index or any folding into background, for the report."""
        if self.by_index:
            return self.by_index
        return f"counted as background: {', '.join(self.folded)}" if self.folded else None


# The classes of a folder dataset without classes.txt: a plain 0/255 mask names its foreground nothing better.
BINARY_CLASSES = ("background", "foreground")


def match_classes(model_classes: Sequence[str], dataset_classes: Sequence[str],
                  ignore_index: int = 255) -> ClassMapping:
    """Map model classes onto dataset classes by name.

    The same names in any order are a permutation. A binary dataset with no class names of its own
    (:data:`BINARY_CLASSES`) matches any two-class model by index, with a note. Otherwise, when both
    have ``background`` and share at least one other class, the evaluation uses the shared classes
    and counts every class that only one side has as background (e.g. a background/person model on
    the 21 VOC classes). Anything else is an :class:`EvaluationError` naming both lists.
    """
    model, data = list(model_classes), list(dataset_classes)
    if len(data) > 255 or len(model) > 256:
        raise EvaluationError(f"too many classes (dataset {len(data)}, model {len(model)}; at most 255)")
    if tuple(data) == BINARY_CLASSES and len(model) == 2 and model != data:
        # A plain binary dataset (0/255 masks, no class names) against any two-class model: class 0 is the
        # background and class 1 whatever the model keeps (person, ...). Scored under the model's names.
        identity = np.arange(256, dtype=np.uint8)
        return ClassMapping(model, identity, identity.copy(), to_dataset=np.array([0, 1], np.uint8),
                            by_index=f"the dataset's unnamed classes (background, foreground) are matched to the "
                            f"model's ({', '.join(model)}) by index")
    shared = [c for c in data if c in model]
    if set(model) == set(data) and len(model) == len(data):
        classes, folded = data, []
    elif "background" in shared and len(shared) >= 2:
        classes = shared
        folded = [c for c in data if c not in shared] + [c for c in model if c not in shared and c not in data]
    else:
        raise EvaluationError(f"the model's classes ({', '.join(model)}) do not fit the dataset's "
                              f"({', '.join(data)}): they must be the same names, or share background and "
                              "at least one other class")
    bg = classes.index("background") if "background" in classes else 0
    truth = np.full(256, bg, np.uint8)
    truth[ignore_index] = ignore_index
    for i, c in enumerate(data):
        truth[i] = classes.index(c) if c in classes else bg
    prediction = np.full(256, bg, np.uint8)
    for i, c in enumerate(model):
        prediction[i] = classes.index(c) if c in classes else bg
    to_dataset = np.array([data.index(c) for c in classes], np.uint8)
    return ClassMapping(classes, truth, prediction, folded, to_dataset)


def dataset_spec(dataset: SegDataset) -> str:
    """``KIND:PATH`` of a dataset, for reports."""
    return f"{dataset.kind}:{dataset.root}"


def _failure(sample: Any, e: Exception) -> str:
    """One line for a sample that could not be scored; it names the image unless the error already names a file."""
    msg = " ".join(str(e).split()) or type(e).__name__
    if not isinstance(e, (DatasetError, ImageError)) and str(sample.image) not in msg:
        msg = f"{sample.image}: {msg}"
    return msg


def _score(dataset: SegDataset, split: str | None, predict: Callable[[Any, np.ndarray, np.ndarray], np.ndarray],
           classes: list[str], truth_lut: np.ndarray | None, *, on_error: Callable[[str], None] | None,
           show_progress: bool, tolerance: float, tolerance_px: float | None) -> dict[str, Any]:
    """The loop both evaluations share: load each sample, ``predict(sample, image, truth)`` its evaluated class
    ids, accumulate the metrics; a sample that fails is reported through ``on_error`` and counted, not scored."""
    split = split or dataset.default_split("test")
    samples = dataset.samples(split)
    metrics = SegmentationMetrics(classes, dataset.ignore_index, tolerance=tolerance, tolerance_px=tolerance_px)
    progress = Progress(len(samples), "images", enabled=show_progress and len(samples) > 1)
    errors: list[str] = []
    for sample in samples:
        try:
            image, truth = dataset.load(sample)
            prediction = predict(sample, image, truth)
            if prediction.shape != truth.shape:
                raise ImageError(f"{sample.image}: prediction {prediction.shape[1]}x{prediction.shape[0]} "
                                 f"differs from the mask's size {truth.shape[1]}x{truth.shape[0]}")
            metrics.update(truth_lut[truth] if truth_lut is not None else truth, prediction)
        except (DatasetError, ImageError, ValueError, OSError, cv2.error) as e:
            errors.append(_failure(sample, e))
            if on_error is not None:
                progress.clear()
                on_error(errors[-1])
        progress.update()
    progress.close()
    return {"data": dataset_spec(dataset), "split": split, **metrics.compute(), "failed": len(errors),
            "errors": errors}


def evaluate_segmenter(predict: Callable[[np.ndarray], np.ndarray], dataset: SegDataset, split: str | None = None,
                       *, model_classes: Sequence[str] | None = None, model_name: str | None = None,
                       predictions_out: str | Path | None = None, on_error: Callable[[str], None] | None = None,
                       show_progress: bool = False, tolerance: float = BOUNDARY_TOLERANCE,
                       tolerance_px: float | None = None) -> dict[str, Any]:
    """Score ``predict(rgb) -> HxW model class ids`` on a dataset split (default: its test split).

    Model classes (default: the dataset's) are matched to the dataset's by :func:`match_classes`.
    A sample that fails (unreadable, wrong size) is reported through ``on_error`` and counted in
    ``failed``; the others are still scored. With ``predictions_out`` each prediction is also written
    to ``<dir>/<id>.png`` as dataset class ids (0/255 for two-class sets), readable by
    :func:`evaluate_predictions`. Returns the JSON-ready report (see :func:`segblur.eval.metrics.format_table`).
    """
    mapping = match_classes(model_classes if model_classes is not None else dataset.classes, dataset.classes,
                            dataset.ignore_index)
    out_dir = Path(predictions_out) if predictions_out is not None else None
    if out_dir is not None and out_dir.exists() and not out_dir.is_dir():
        raise EvaluationError(f"{out_dir}: exists and is not a folder")
    n_data = len(dataset.classes)

    def predict_sample(sample: Any, image: np.ndarray, truth: np.ndarray) -> np.ndarray:
        raw = np.asarray(predict(image))
        if raw.ndim != 2 or raw.shape != truth.shape:
            raise ImageError(f"{sample.image}: prediction of shape {raw.shape} does not match the mask's "
                             f"{truth.shape[1]}x{truth.shape[0]}")
        if raw.min(initial=0) < 0 or raw.max(initial=0) >= 256:
            raise ImageError(f"{sample.image}: prediction holds values outside 0..255")
        pred = mapping.prediction[raw.astype(np.intp)]
        if out_dir is not None and mapping.to_dataset is not None:
            write_image(out_dir / f"{sample.id}.png", prediction_image(mapping.to_dataset[pred], n_data))
        return pred

    report = _score(dataset, split, predict_sample, mapping.classes, mapping.truth, on_error=on_error,
                    show_progress=show_progress, tolerance=tolerance, tolerance_px=tolerance_px)
    report = {"model": model_name, **report} if model_name else report
    if mapping.note():
        report["class_note"] = mapping.note()
    return report


def evaluate_predictions(predictions: str | Path, dataset: SegDataset, split: str | None = None, *,
                         on_error: Callable[[str], None] | None = None, show_progress: bool = False,
                         tolerance: float = BOUNDARY_TOLERANCE, tolerance_px: float | None = None) -> dict[str, Any]:
    """Score a folder of predicted masks ``<id>.png`` (dataset class ids; 0/255 for two-class sets).

    A missing or unreadable prediction is reported through ``on_error`` (naming the id) and counted
    as failed; the rest are still scored.
    """
    folder = Path(predictions)
    if not folder.is_dir():
        raise EvaluationError(f"{folder}: no such folder of predictions")
    n = len(dataset.classes)

    def read_sample(sample: Any, image: np.ndarray, truth: np.ndarray) -> np.ndarray:
        path = folder / f"{sample.id}.png"
        if not path.is_file():
            raise ImageError(f"{path}: no prediction for id {sample.id!r}")
        pred = read_prediction(path, n)
        if pred.shape != truth.shape:  # the prediction file is the one to fix, not the dataset's image
            raise ImageError(f"{path}: prediction {pred.shape[1]}x{pred.shape[0]} differs from the size of the true "
                             f"mask {sample.mask or sample.image}, {truth.shape[1]}x{truth.shape[0]}")
        return pred

    report = _score(dataset, split, read_sample, list(dataset.classes), None, on_error=on_error,
                    show_progress=show_progress, tolerance=tolerance, tolerance_px=tolerance_px)
    return {"predictions": str(folder), **report}

