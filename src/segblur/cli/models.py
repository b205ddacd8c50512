"""``segblur models``: the built-in models, a summary line and the card of each."""

from __future__ import annotations

import argparse

ORDER = 14


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Add the ``models`` subcommand."""
    p = sub.add_parser("models", help="list the built-in models and their cards")
    p.add_argument("name", nargs="?", help="show only this model")
    p.add_argument("--brief", action="store_true", help="one line per model, no cards")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Print each built-in model (or the one named): architecture, classes, input size, scores, card."""
    from ..names import builtin_models
    from ..runtime.model import ModelError, OnnxModel, model_card
    from .common import CommandError, report

    names = builtin_models()
    if args.name:
        if args.name not in names and args.name != "default":
            raise CommandError(f"no built-in model {args.name!r} (built-in: {', '.join(names) or 'none'})")
        names = [args.name]
    for name in names:
        try:
            m = OnnxModel(name)
        except ModelError as e:
            report(str(e))
            continue
        i = m.info
        size_mb = m.path.stat().st_size / 1e6
        print(f"{i.name}: {i.architecture}, classes {', '.join(i.classes)}; keeps {', '.join(i.foreground)}; "
              f"input {i.input_size[1]}x{i.input_size[0]}; {size_mb:.1f} MB")
        for split, scores in (i.extra.get("metrics") or {}).items():
            if isinstance(scores, dict):
                nums = ", ".join(f"{k} {v:.3f}" for k, v in scores.items() if isinstance(v, float))
                print(f"  {split}: {nums}")
        card = model_card(m.path.stem)
        if card and not args.brief:
            print("\n" + card.strip() + "\n")
    return 0
