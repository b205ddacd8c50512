"""Video quality against ground truth: segblur's smoothing and subject focus, off and on, beside MediaPipe + a moving
average, scored with the same code on the same frames in the same run.

    python benchmarks/video_quality.py [--reference .cache/reference/selfie_segmentation.tflite] [--model M]
        [--sequence ../shared/data/davis-dance-twirl] [--region subject] [--photos] [--json out.json]

Each row runs the sequence's frames in order (``segblur.eval.sequence.evaluate_sequence``: what ``segblur evaluate
--sequence`` prints) and reports the per-frame person IoU, boundary F1, the temporal error against the ground truth
and the still-scene flicker of the first frame. davis-dance-twirl labels only the dancer, so it is scored inside a
box around her (``--region subject``). ``--photos`` adds person IoU on the human-segmentation-vikram test split
(full-body photos) with subject focus off and on.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from segblur import Pipeline, Segmenter  # noqa: E402
from segblur.bench.sequence import TABLE_HEAD, MovingAverageReference, compare_on_sequence  # noqa: E402
from segblur.eval.sequence import open_sequence  # noqa: E402
from segblur.runtime.subject import SubjectConfig  # noqa: E402
from segblur.runtime.temporal import TemporalConfig  # noqa: E402

# segblur video's defaults, and each of its parts switched off (the row names say what differs).
SEGBLUR_ROWS = {
    "segblur video defaults (two-way smoothing, optical flow, follow)": (TemporalConfig(), SubjectConfig(follow=True)),
    "  no temporal smoothing": (False, SubjectConfig(follow=True)),
    "  one-way smoothing (the camera's: lookahead 0)": (TemporalConfig(lookahead=0), SubjectConfig(follow=True)),
    "  two-way smoothing without optical flow": (TemporalConfig(flow=False), SubjectConfig(follow=True)),
    "  no subject follow": (TemporalConfig(), SubjectConfig()),
    "  --subject main": (TemporalConfig(), SubjectConfig("main", follow=True)),
    "before (one-way, no flow, gate 0.1, no follow)": (TemporalConfig(lookahead=0, flow=False, local_motion=0.1),
                                                       SubjectConfig()),
}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="default", help="segblur model (default: the default model)")
    ap.add_argument("--reference", type=Path, default=None, help="MediaPipe selfie_segmentation.tflite")
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--sequence", type=Path, default=None, help="frame folder or video (default: davis-dance-twirl)")
    ap.add_argument("--masks", type=Path, default=None, help="true masks of a video --sequence")
    ap.add_argument("--region", choices=("subject", "frame"), default="subject")
    ap.add_argument("--photos", action="store_true", help="also person IoU on human-segmentation-vikram test")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    sequence = args.sequence or args.data / "davis-dance-twirl"
    if not sequence.exists():
        print(f"video_quality: {sequence}: not found", file=sys.stderr)
        return 2
    source = open_sequence(sequence, args.masks)
    segmenter = Segmenter(args.model)
    factories = {name: (lambda t=t, s=s: Pipeline(segmenter, effect="color", temporal=t, subject=s))
                 for name, (t, s) in SEGBLUR_ROWS.items()}
    if args.reference:
        from segblur.bench.reference import MediaPipeSelfie

        selfie = MediaPipeSelfie(args.reference)
        factories["MediaPipe selfie per frame"] = lambda: MovingAverageReference(selfie, 1.0)
        factories["MediaPipe selfie + moving average 0.5 (Linux-Fake-Background-Webcam)"] = \
            lambda: MovingAverageReference(selfie)
    print(f"{sequence}: {len(source)} frames, {segmenter.info.name}, scored on "
          f"{'a box around the subject' if args.region == 'subject' else 'whole frames'}\n{TABLE_HEAD}", flush=True)
    results = {"sequence": compare_on_sequence(factories, source, args.region, log=lambda ln: print(ln, flush=True))}
    if args.photos:
        results["photos"] = photos(args, segmenter)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


def photos(args: argparse.Namespace, segmenter: Segmenter) -> dict[str, dict]:
    """Person IoU on the Vikram test split (full-body photos) with subject focus off and on."""
    from segblur.eval.evaluation import VIKRAM, evaluate_person, person_items

    items = person_items(args.data, VIKRAM, "test")
    rows = {"segblur, whole photo": None, "segblur, --follow (a second look at the crop)": SubjectConfig(follow=True),
            "segblur, --subject main": SubjectConfig("main"),
            "segblur, --subject main --follow": SubjectConfig("main", follow=True)}
    pipes = {name: Pipeline(segmenter, subject=s) for name, s in rows.items()}
    predictors = {name: (lambda img, p=p: p.mask(img) >= 0.5) for name, p in pipes.items()}
    if args.reference:
        from segblur.bench.reference import MediaPipeSelfie

        selfie = MediaPipeSelfie(args.reference)
        predictors["MediaPipe selfie"] = lambda img: selfie.predict(img) >= 0.5
    print(f"\n{VIKRAM} test ({len(items)} photos)\n| pipeline | person IoU | mean image IoU |\n|---|---:|---:|")
    out = {}
    for name, predict in predictors.items():
        score = evaluate_person(predict, items)
        out[name] = score.as_dict()
        print(f"| {name} | {score.iou:.4f} | {score.mean_image_iou:.4f} |", flush=True)
    return out


if __name__ == "__main__":
    raise SystemExit(main())
