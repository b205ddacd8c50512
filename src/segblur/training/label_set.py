"""A label set on disk: ``segblur label``'s masks of a folder of photos, ``OUT/masks/<id>.png``, and the run that
made them, ``OUT/labels.json``; written so that an interrupted run can be finished and a set never mixes two kinds
of labels. Each photo is labelled by :func:`~segblur.training.label.label_image`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ..data import DatasetError, read_png_indices
from ..io import one_line, write_atomic
from ..media.images import ImageError, read_image, write_image
from ..progress import Progress
from .label import LabelError, LabelSettings, label_image, mask_stats, read_boxes
from .teachers import Teacher

LABELS_FORMAT = 1
EXISTING = ("refuse", "overwrite", "skip")


class LabelsExistError(LabelError):
    """OUT already holds labels and the run was asked neither to overwrite nor to skip them."""


def _labels_json(out: Path) -> dict[str, Any] | None:
    path = out / "labels.json"
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise LabelError(f"{path}: cannot read ({one_line(e)})") from None


def _stats_of(mask_path: Path) -> dict[str, float]:
    """:func:`mask_stats` of a mask written earlier."""
    mask = read_png_indices(mask_path)
    if mask is None:
        raise LabelError(f"{mask_path}: not a single-channel PNG mask")
    return mask_stats(mask)


def _comparable(labels: dict[str, Any], header: dict[str, Any]) -> dict[str, Any]:
    """The entries of ``header`` in a labels.json, files as real paths: the same teacher or boxes folder spelled
    another way (``boxes``, ``./boxes``, ``/abs/boxes``) is the same kind of labels, not a reason to replace them."""
    def real(path: Any) -> Any:
        return os.path.realpath(path) if isinstance(path, str) and path else path

    out = {k: labels.get(k) for k in header}
    out["boxes"] = real(out["boxes"])
    out["teachers"] = [{**t, "source": real(t.get("source"))} if isinstance(t, dict) else t
                       for t in out["teachers"] or []]
    return out


def write_labels(images: Sequence[str | Path], out: str | Path, teachers: Sequence[Teacher],
                 settings: LabelSettings | None = None, boxes: str | Path | None = None, existing: str = "refuse",
                 on_error: Callable[[str], None] | None = None, show_progress: bool = False) -> dict[str, Any]:
    """Label each image into ``out/masks/<id>.png`` (id: the file's stem) and describe the run in
    ``out/labels.json`` (teachers, settings, per image: ignore and person fractions, boxes and their teachers).

    ``boxes``: a folder of ``<id>.txt`` person boxes (see :func:`read_boxes`); without it boxes are found by the
    teachers. ``existing``: ``refuse`` (:class:`LabelsExistError` if ``out`` holds any of the masks or a labels.json),
    ``overwrite`` (relabel these images; when labels.json was made with other teachers, settings or boxes, all its
    masks are removed first so that ``out`` never mixes two kinds of labels, else the other masks stay listed), or
    ``skip`` (keep the masks already there, e.g. of an interrupted run with the same teachers and settings). A bad
    image or boxes file, or a second image with an id already seen, is reported through ``on_error`` (one line),
    skipped and counted as failed. labels.json is written at the end, also when the run is interrupted (then with
    ``"complete": false``). Returns its summary.
    """
    if existing not in EXISTING:
        raise ValueError(f"existing must be one of {', '.join(EXISTING)}, not {existing!r}")
    s = settings or LabelSettings()
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise LabelError(f"{out}: exists and is not a folder")
    box_dir = Path(boxes) if boxes is not None else None
    if box_dir is not None and not box_dir.is_dir():
        raise LabelError(f"{box_dir}: no such folder of boxes")
    report = on_error or (lambda msg: None)
    sources: dict[str, Path] = {}
    duplicates = 0  # not labelled: they count as failed
    for p in map(Path, images):
        if p.stem in sources:
            report(f"{p}: id {p.stem!r} is also {sources[p.stem]}; skipped")
            duplicates += 1
        else:
            sources[p.stem] = p
    masks = out / "masks"
    header = {"format": LABELS_FORMAT, "teachers": [t.describe() for t in teachers], "settings": s.as_dict(),
              "boxes": os.path.realpath(box_dir) if box_dir is not None else None}
    old = _labels_json(out)
    there = [i for i in sources if (masks / f"{i}.png").exists()]
    if existing == "refuse" and (there or old is not None):
        raise LabelsExistError(f"{out}: holds labels already ({len(there)} of these masks"
                          f"{', labels.json' if old is not None else ''})")
    other = old is not None and _comparable(old, header) != _comparable(header, header)
    if existing == "skip" and other:
        raise LabelError(f"{out / 'labels.json'}: made with other teachers, settings or boxes; "
                         "skipping its masks would mix two kinds of labels")
    per_image: dict[str, Any] = dict(old.get("images", {})) if existing == "skip" and old else {}
    failed, skipped = duplicates, 0
    if existing == "overwrite" and old is not None and not other:  # same kind of labels: the others stay valid
        per_image = {k: v for k, v in old.get("images", {}).items() if (masks / f"{k}.png").is_file()}
        skipped = len(per_image.keys() - sources.keys())
    elif existing == "overwrite" and other:  # a new kind of labels replaces the whole set, never mixes with it
        _write_labels_json(out, header, False, {}, {})  # first: a run stopped while clearing is incomplete
        _remove_masks(masks)
    progress = Progress(len(sources), "images", enabled=show_progress and len(sources) > 1)
    complete = False
    try:
        for i, src in sources.items():
            dst = masks / f"{i}.png"
            try:
                if existing == "skip" and dst.exists():
                    per_image[i] = per_image.get(i) or _stats_of(dst)
                    skipped += 1
                else:
                    image = read_image(src)
                    found = read_boxes(box_dir / f"{i}.txt", (image.shape[1], image.shape[0])) if box_dir else None
                    result = label_image(image, found, teachers, s)
                    write_image(dst, result.mask)
                    per_image[i] = result.stats()
            except (LabelError, ImageError, DatasetError) as e:
                failed += 1
                progress.clear()
                report(str(e))  # each of these names its file
            except (cv2.error, MemoryError, OSError) as e:
                failed += 1
                progress.clear()
                report(f"{src}: cannot label ({one_line(e)})")
            progress.update()
        complete = True
    finally:
        progress.close()
        done = list(per_image.values())
        summary = {"images": len(done), "skipped": skipped, "failed": failed,
                   "mean_ignore": round(float(np.mean([v["ignore"] for v in done])), 4) if done else None,
                   "mean_person": round(float(np.mean([v["person"] for v in done])), 4) if done else None}
        _write_labels_json(out, header, complete, summary, per_image)
    return summary


def _write_labels_json(out: Path, header: dict[str, Any], complete: bool, summary: dict[str, Any],
                       per_image: dict[str, Any]) -> None:
    """``out/labels.json``, atomically: the run's header, whether it finished, its summary, an image a line."""
    head = json.dumps(header | {"complete": complete, "summary": summary}, indent=1)[:-2]
    rows = ",\n".join(f"  {json.dumps(k)}: {json.dumps(v)}" for k, v in sorted(per_image.items()))
    write_atomic(out / "labels.json", f'{head},\n "images": {{\n{rows}\n }}\n}}\n'.encode())


def _remove_masks(masks: Path) -> None:
    """Delete the ``*.png`` masks of an earlier label set in ``masks`` (--overwrite with other teachers or settings)."""
    for f in sorted(masks.glob("*.png")) if masks.is_dir() else ():
        try:
            f.unlink()
        except FileNotFoundError:
            pass
        except OSError as e:
            raise LabelError(f"{f}: cannot remove the old mask ({getattr(e, 'strerror', None) or e})") from None
