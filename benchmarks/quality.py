"""Person IoU of segblur models and the MediaPipe reference on the same held-out images.

    python benchmarks/quality.py [--model person-fast] [--reference .cache/reference/selfie_segmentation.tflite]
                                 [--data ../shared/data] [--labels runs/labels] [--json results.json]

Sets: flickr-portraits-shen2016 ``test`` (near-duplicates removed), human-segmentation-vikram ``test``
(``splits/test.txt`` without the duplicate 0270), davis-dance-twirl's 90 frames one by one as photos, scored
inside the box around the dancer (her mask's bounding box grown by 10 %: the audience behind her is unlabelled),
and people-hd ``test`` against TEACHER labels (``segblur label``, in ``--labels``/people-hd/masks; 255 ignored),
which says how close a model comes to the teachers, not to the truth. See segblur.data.person for the split
rules. A prediction is probability >= 0.5 at the mask's resolution. For segblur two rows: the mask the Pipeline
uses (guided-filter refinement, the default) and plain bilinear upsampling of the network output. The last two
columns split what each model loses (1 - IoU) into errors within 1 % of the diagonal of the true outline and
errors farther away (``PersonScore.edge_loss``, ``far_loss``): a matter of the outline or of recognition.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from segblur import Pipeline
from segblur.data.person import DAVIS, PEOPLE_HD
from segblur.eval.evaluation import SHEN, VIKRAM, evaluate_person, person_items

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", action="append", default=None, help="segblur model(s) (default: default)")
    ap.add_argument("--reference", type=Path, default=None, help="MediaPipe selfie_segmentation.tflite")
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--labels", type=Path, default=ROOT / "runs" / "labels",
                    help="teacher labels: <labels>/people-hd/masks (people-hd is left out without them)")
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
    # (JSON key as in the models' metadata, items, how to score)
    sets = [(f"{SHEN}:test", person_items(args.data, SHEN, "test"), {}),
            (f"{VIKRAM}:test", person_items(args.data, VIKRAM, "test"), {})]
    if (args.data / DAVIS).is_dir():
        sets.append((f"{DAVIS}:all (dancer region)", person_items(args.data, DAVIS, "all"), {"region": True}))
    teacher = args.labels / PEOPLE_HD / "masks"
    if teacher.is_dir():
        items = [(i, img, teacher / f"{i}.png") for i, img, _ in person_items(args.data, PEOPLE_HD, "test")]
        sets.append((f"{PEOPLE_HD}:test (teacher labels)", items, {"teacher": True}))
    else:
        print(f"quality: {teacher}: no teacher labels, people-hd left out", file=sys.stderr)
    results: dict[str, dict[str, dict]] = {}
    print("| model | set | images | person IoU | mean image IoU | pixel acc. | IoU lost at the edge | away from it |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for name, fn in predictors.items():
        results[name] = {}
        for label, items, how in sets:
            t = time.perf_counter()
            s = evaluate_person(fn, items, **how)
            results[name][label] = s.as_dict() | {"seconds": round(time.perf_counter() - t, 1)}
            print(f"| {name} | {label} | {s.images} | {s.iou:.4f} | {s.mean_image_iou:.4f} "
                  f"| {s.pixel_accuracy:.4f} | {s.edge_loss:.4f} | {s.far_loss:.4f} |", flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
