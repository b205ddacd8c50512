"""``segblur export``: a training checkpoint -> ONNX model for the runtime (optionally INT8), or ONNX -> INT8."""

from __future__ import annotations

import argparse
from pathlib import Path

from .common import CommandError, keep_list

ORDER = 41


def add_parsers(sub) -> None:
    """Register export."""
    p = sub.add_parser("export", help="export a training checkpoint to an ONNX model for the runtime",
                       description="Write MODEL.onnx with softmax in the graph and the segblur metadata; "
                       "ONNX Runtime's output is checked against torch's "
                       "before writing. --int8 adds static INT8 quantisation "
                       "calibrated on the images in --calibration. Needs segblur[train]: torch to export a "
                       "checkpoint, onnx to quantise.")
    p.add_argument("checkpoint", type=Path, metavar="CHECKPOINT",
                   help="training checkpoint (.pt); or an exported .onnx model to quantise with --int8")
    p.add_argument("-o", "--output", type=Path, required=True, metavar="MODEL.onnx",
                   help="the ONNX file to write (atomically; never the checkpoint itself)")
    p.add_argument("--name", help="model name in the metadata (default: the output's stem)")
    p.add_argument("--foreground", action="append", metavar="CLASS[,CLASS]",
                   help="default kept classes (default: the dataset's, e.g. person)")
    p.add_argument("--data-note", dest="data_note", help="one-line description of the training data")
    p.add_argument("--metrics", type=Path, metavar="JSON", help="test-split metrics to store in the metadata "
                   "(e.g. from segblur evaluate --json)")
    p.add_argument("--int8", action="store_true", help="quantise to INT8 (needs --calibration)")
    p.add_argument("--calibration", type=Path, metavar="DIR", help="images for INT8 calibration")
    p.set_defaults(func=cmd_export)


def cmd_export(args: argparse.Namespace) -> int:
    """Checkpoint -> ONNX (optionally INT8); an .onnx input is quantised (no torch needed)."""
    from ..training.export import ExportError, export_model

    try:
        out = export_model(args.checkpoint, args.output, name=args.name, foreground=keep_list(args.foreground),
                           data=args.data_note, metrics=args.metrics, int8=args.int8, calibration=args.calibration,
                           progress=True)
    except ExportError as e:
        raise CommandError(str(e)) from None
    print(f"segblur: wrote {out} ({out.stat().st_size / 1e6:.2f} MB)" + (" INT8" if args.int8 else ""))
    return 0
