"""Person IoU of the MediaPipe selfie segmentation reference model on the project's evaluation sets.

Gives the accuracy side of the segblur-vs-MediaPipe comparison, on the same images segblur is evaluated on:
- flickr-portraits-shen2016: ``splits/test.txt`` minus near-duplicates (second id of a pair dropped when both are
  in test);
- human-segmentation-vikram: ids sorted from ``masks/*.png``, duplicate 0270 dropped, every 7th id (``ids[::7]``).

Prediction = probability > 0.5, compared with mask == 255 at the mask's resolution.

    python benchmarks/eval_reference_iou.py [--model .cache/reference/selfie_segmentation.tflite] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2
import numpy as np

try:  # imported as part of the benchmarks package
    from .reference import MediaPipeSelfie
except ImportError:  # run as a script: benchmarks/ is on sys.path
    from reference import MediaPipeSelfie

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO_ROOT.parent / "shared" / "data"
DEFAULT_MODEL = REPO_ROOT / ".cache" / "reference" / "selfie_segmentation.tflite"
SHEN_DUPLICATES = (
    ("00202", "01167"),
    ("00203", "01175"),
    ("00971", "00990"),
    ("01016", "01023"),
    ("01179", "01182"),
    ("02050", "02051"),
    ("02076", "02359"),
)
VIKRAM_DUPLICATE = "0270"
VIKRAM_STRIDE = 7
THRESHOLD = 0.5


def shen_test_ids(root: Path) -> list[str]:
    """Test ids of flickr-portraits-shen2016 with one id of each in-test near-duplicate pair removed."""
    ids = [s.strip() for s in (root / "splits" / "test.txt").read_text().splitlines() if s.strip()]
    present = set(ids)
    drop = {b for a, b in SHEN_DUPLICATES if a in present and b in present}
    return [i for i in ids if i not in drop]


def vikram_ids(root: Path) -> list[str]:
    """Every 7th id of human-segmentation-vikram (sorted, duplicate 0270 removed)."""
    ids = sorted(p.stem for p in (root / "masks").glob("*.png"))
    ids = [i for i in ids if i != VIKRAM_DUPLICATE]
    return ids[::VIKRAM_STRIDE]


def evaluate(seg: MediaPipeSelfie, root: Path, ids: list[str]) -> dict[str, float | int]:
    """Dataset-level IoU (sum of intersections / sum of unions) and mean per-image IoU of the person class."""
    inter_total = union_total = 0
    per_image = []
    for i in ids:
        bgr = cv2.imread(str(root / "images" / f"{i}.jpg"), cv2.IMREAD_COLOR)
        gt = cv2.imread(str(root / "masks" / f"{i}.png"), cv2.IMREAD_GRAYSCALE)
        if bgr is None or gt is None:
            raise FileNotFoundError(f"missing image or mask for id {i} in {root}")
        prob = seg.predict(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
        if prob.shape != gt.shape:
            prob = cv2.resize(prob, (gt.shape[1], gt.shape[0]), interpolation=cv2.INTER_LINEAR)
        pred = prob > THRESHOLD
        truth = gt == 255
        inter = int(np.count_nonzero(pred & truth))
        union = int(np.count_nonzero(pred | truth))
        inter_total += inter
        union_total += union
        per_image.append(inter / union if union else 1.0)
    return {
        "images": len(ids),
        "iou": inter_total / union_total if union_total else float("nan"),
        "mean_image_iou": float(np.mean(per_image)) if per_image else float("nan"),
    }


def main(argv: list[str] | None = None) -> int:
    """Evaluate the reference model on both datasets, print a table and optionally write JSON."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, default=DEFAULT_MODEL, help="selfie segmentation .tflite")
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder holding the datasets")
    ap.add_argument("--threads", type=int, default=1, help="LiteRT threads (default 1)")
    ap.add_argument("--json", type=Path, help="write the results here as JSON")
    args = ap.parse_args(argv)
    if not args.model.is_file():
        print(f"eval_reference_iou: error: {args.model} not found (run benchmarks/fetch_reference.py)", file=sys.stderr)
        return 1
    seg = MediaPipeSelfie(args.model, threads=args.threads)
    sets = {
        "flickr-portraits-shen2016": shen_test_ids,
        "human-segmentation-vikram": vikram_ids,
    }
    results = {}
    for name, id_fn in sets.items():
        root = args.data / name
        results[name] = evaluate(seg, root, id_fn(root))
    print(f"model: {args.model.name} (input {seg.input_width}x{seg.input_height}, threshold {THRESHOLD})")
    print(f"{'dataset':<28}{'images':>8}{'IoU':>10}{'mean img IoU':>15}")
    for name, r in results.items():
        print(f"{name:<28}{r['images']:>8}{r['iou']:>10.4f}{r['mean_image_iou']:>15.4f}")
    if args.json:
        payload = {"model": args.model.name, "threshold": THRESHOLD, "datasets": results}
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(payload, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
