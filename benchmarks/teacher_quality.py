"""How good are the teacher labels? ``segblur label`` against ground truth, beside each teacher alone.

    python benchmarks/teacher_quality.py [--sets shen:test,vikram:test,davis] [--teachers .cache/teachers]
                                         [--set margin=0.1 ...] [--cache DIR] [--json FILE]

Rows: the teacher labels with person boxes taken from the ground truth (one box per connected blob of the mask,
as annotators box people), the teacher labels without boxes (as for gesture-mit), and MediaPipe selfie alone and
pose-heavy alone (whole photo, probability >= 0.5, nothing ignored). Columns: person IoU on the pixels the labels
keep, the fraction of pixels ignored (255), and person IoU counting ignored pixels as wrong.

Sets: ``shen:test`` and ``vikram:test`` are the splits of benchmarks/quality.py (segblur.eval.evaluation);
``davis`` is davis-dance-twirl scored in the region around the dancer (segblur.eval.regions): the spectators
are unlabelled. Tune settings (``--set``) on ``shen:train``, ``shen:unlisted`` and ``vikram:train`` only.
Teachers come from ``python benchmarks/fetch_teachers.py``. ``--cache`` keeps teacher outputs between runs.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from segblur.eval.evaluation import SHEN, VIKRAM, person_items
from segblur.eval.regions import crop_to_subject
from segblur.media.images import read_image
from segblur.training.label import IGNORE, LabelSettings, label_image
from segblur.training.teachers import Teacher, open_teacher, run_region

ROOT = Path(__file__).resolve().parents[1]
DAVIS = "davis-dance-twirl"


def items(data: Path, name: str) -> list[tuple[str, Path, Path]]:
    """(id, image, mask) of a set ``shen:SPLIT``, ``vikram:SPLIT`` or ``davis``."""
    if name == "davis":
        root = data / DAVIS
        return [(p.stem, p, root / "masks" / f"{p.stem}.png") for p in sorted((root / "images").glob("*.jpg"))]
    ds, _, split = name.partition(":")
    return person_items(data, {"shen": SHEN, "vikram": VIKRAM}[ds], split)


def truth_boxes(truth: np.ndarray, min_area: float = 0.002) -> np.ndarray:
    """One box per person blob of a ground-truth mask (blobs closer than 1% of the diagonal joined, tiny ones
    dropped), the way an annotator would box the people."""
    h, w = truth.shape
    k = max(3, int(0.01 * np.hypot(h, w)) | 1)
    joined = cv2.dilate(truth.astype(np.uint8), np.ones((k, k), np.uint8))
    n, lab = cv2.connectedComponents(joined)
    boxes = []
    for i in range(1, n):
        ys, xs = np.nonzero((lab == i) & truth)
        if ys.size >= min_area * h * w:
            boxes.append((xs.min(), ys.min(), xs.max() + 1, ys.max() + 1))
    return np.array(boxes, np.float32).reshape(-1, 4)


def cached(teacher: Teacher, folder: Path) -> Teacher:
    """``teacher`` whose outputs are kept in ``folder``, keyed by its name and the input's bytes."""
    folder.mkdir(parents=True, exist_ok=True)

    def run(x: np.ndarray):
        f = folder / f"{teacher.name}-{hashlib.sha1(np.ascontiguousarray(x).tobytes()).hexdigest()}.npz"
        if f.is_file():
            z = np.load(f)
            return z["prob"].astype(np.float32), json.loads(str(z["extras"]))
        prob, extras = teacher.run(x)
        np.savez(f, prob=prob.astype(np.float16), extras=np.array(json.dumps(extras)))
        return prob.astype(np.float16).astype(np.float32), extras

    return dataclasses.replace(teacher, run=run)


class Score:
    """Pixel counts for person IoU on kept pixels, the ignored fraction and IoU with ignore counted as wrong."""

    def __init__(self) -> None:
        self.tp = self.fp = self.fn = self.ignored = self.pixels = self.images = 0

    def add(self, label: np.ndarray, truth: np.ndarray) -> None:
        keep = label != IGNORE
        pred = label == 1
        self.tp += int((pred & truth & keep).sum())
        self.fp += int((pred & ~truth & keep).sum())
        self.fn += int((~pred & truth & keep).sum())
        self.ignored += int((~keep).sum())
        self.pixels += label.size
        self.images += 1

    def row(self) -> dict[str, float]:
        union = self.tp + self.fp + self.fn
        return {"images": self.images, "person_iou": round(self.tp / union, 4) if union else float("nan"),
                "ignored": round(self.ignored / max(1, self.pixels), 4),
                "iou_ignore_wrong": round(self.tp / (union + self.ignored), 4) if union + self.ignored else 0.0}


def _settings(pairs: list[str]) -> LabelSettings:
    fields = {f.name for f in dataclasses.fields(LabelSettings)}
    kw = {}
    for p in pairs:
        k, _, v = p.partition("=")
        if k not in fields:
            raise SystemExit(f"teacher_quality: unknown setting {k!r} (settings: {', '.join(sorted(fields))})")
        kw[k] = int(v) if k == "tiles" else float(v)
    return LabelSettings(**kw)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--sets", default="shen:test,vikram:test,davis")
    ap.add_argument("--teachers", type=Path, default=ROOT / ".cache" / "teachers", help="folder of the .tflite files")
    ap.add_argument("--rows", default="gt-boxes,no-boxes,selfie,pose", help="rows to compute (default: all)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="a LabelSettings value")
    ap.add_argument("--cache", type=Path, default=None, help="folder to keep teacher outputs in")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--every", type=int, default=1, help="every Nth image of each set (default: all)")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    settings = _settings(args.set)
    pose = open_teacher(f"pose={args.teachers / 'pose_landmark_heavy.tflite'}", args.threads)
    selfie = open_teacher(f"selfie={args.teachers / 'selfie_segmentation.tflite'}", args.threads)
    if args.cache:
        pose, selfie = cached(pose, args.cache), cached(selfie, args.cache)
    teachers = [pose, selfie]

    def alone(t: Teacher):
        return lambda img, _: (run_region(t, img, (0, 0, img.shape[1], img.shape[0])).prob >= 0.5).astype(np.uint8)

    rows = {"gt-boxes": lambda img, truth: label_image(img, truth_boxes(truth), teachers, settings).mask,
            "no-boxes": lambda img, _: label_image(img, None, teachers, settings).mask,
            "selfie": alone(selfie), "pose": alone(pose)}
    names = {"gt-boxes": "teacher labels, boxes from the ground truth", "no-boxes": "teacher labels, no boxes",
             "selfie": "MediaPipe selfie alone", "pose": "pose-heavy alone (letterboxed)"}
    chosen = args.rows.split(",")
    results: dict[str, dict[str, dict]] = {"settings": settings.as_dict()}  # type: ignore[dict-item]
    print("| labels | set | images | person IoU (kept pixels) | ignored | IoU, ignore counted wrong |")
    print("|---|---|---:|---:|---:|---:|")
    for set_name in args.sets.split(","):
        scores = {r: Score() for r in chosen}
        t0 = time.perf_counter()
        for _, img_path, mask_path in items(args.data, set_name)[::args.every]:
            img = read_image(img_path)
            truth = read_image(mask_path)[..., 0] > 127
            for r in chosen:
                label = rows[r](img, truth)
                if set_name == "davis":
                    truth_r, label = crop_to_subject(truth, label)
                else:
                    truth_r = truth
                scores[r].add(label, truth_r)
        for r in chosen:
            row = scores[r].row()
            results.setdefault(r, {})[set_name] = row
            print(f"| {names[r]} | {set_name} | {row['images']} | {row['person_iou']:.4f} | {row['ignored']:.4f} "
                  f"| {row['iou_ignore_wrong']:.4f} |", flush=True)
        print(f"<!-- {set_name}: {time.perf_counter() - t0:.0f} s -->", file=sys.stderr)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
