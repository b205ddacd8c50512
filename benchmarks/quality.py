"""Person IoU of segblur models and the MediaPipe reference on the same held-out images.

    python benchmarks/quality.py [--model person-fast] [--reference .cache/reference/selfie_segmentation.tflite]
                                 [--data ../shared/data] [--json results.json]

Sets: flickr-portraits-shen2016 ``test`` (near-duplicates removed) and human-segmentation-vikram
``test`` (every 7th id); see segblur.evaluation for the exact split rules. A prediction is
probability >= 0.5 at the mask's resolution. For segblur two rows: the mask the Pipeline uses
(guided-filter refinement, the default) and plain bilinear upsampling of the network output.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from segblur import Pipeline
from segblur.eval.evaluation import SHEN, VIKRAM, evaluate_person, person_items

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", action="append", default=None, help="segblur model(s) (default: default)")
    ap.add_argument("--reference", type=Path, default=None, help="MediaPipe selfie_segmentation.tflite")
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    if not (args.data / SHEN).is_dir():
        print(f"quality: {args.data / SHEN}: not found", file=sys.stderr)
        return 2
    predictors = {}
    for m in args.model or ["default"]:
        pipe = Pipeline(m)
        name = pipe.segmenter.info.name
        predictors[f"segblur {name} (guided)"] = lambda img, p=pipe: p.mask(img) >= 0.5
        predictors[f"segblur {name} (bilinear)"] = lambda img, p=pipe: p.segmenter.predict(img) >= 0.5
    if args.reference:
        sys.path.insert(0, str(ROOT / "src"))
        from segblur.bench.reference import MediaPipeSelfie

        ref = MediaPipeSelfie(args.reference)
        predictors["MediaPipe selfie (LiteRT)"] = lambda img: ref.predict(img) >= 0.5
    results: dict[str, dict[str, dict]] = {}
    print("| model | set | images | person IoU | mean image IoU | pixel acc. |")
    print("|---|---|---:|---:|---:|---:|")
    for name, fn in predictors.items():
        results[name] = {}
        for ds, split in ((SHEN, "test"), (VIKRAM, "test")):
            t = time.perf_counter()
            s = evaluate_person(fn, person_items(args.data, ds, split))
            results[name][f"{ds}:{split}"] = s.as_dict() | {"seconds": round(time.perf_counter() - t, 1)}
            print(f"| {name} | {ds} {split} | {s.images} | {s.iou:.4f} | {s.mean_image_iou:.4f} "
                  f"| {s.pixel_accuracy:.4f} |", flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
