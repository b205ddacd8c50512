"""``segblur models``: the built-in models as a short table; one model's card, or all of them with --full."""

from __future__ import annotations

import argparse

ORDER = 14


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Add the ``models`` subcommand."""
    p = sub.add_parser("models", help="list the built-in models (a table; a name or --full for the cards)",
                       description="A table of the built-in models: architecture, classes (* = kept by default), "
                       "input size, file size and the headline test score. NAME shows that model's scores and card; "
                       "--full shows every card.")
    p.add_argument("name", nargs="?", help="show this model's scores and card")
    p.add_argument("--full", action="store_true", help="the scores and card of every model")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Print the table, or the cards asked for."""
    from ..names import DEFAULT_MODEL, builtin_models
    from ..runtime.model import ModelError, OnnxModel, model_card
    from .common import CommandError, report

    names = builtin_models()
    if args.name:
        if args.name not in names and args.name != "default":
            raise CommandError(f"no built-in model {args.name!r} (built-in: {', '.join(names) or 'none'})")
        names = [args.name]
    models = []
    for name in names:
        try:
            models.append(OnnxModel(name))
        except ModelError as e:
            report(str(e))
    if not (args.name or args.full):
        rows = [_row(m) for m in models]
        widths = [max(len(r[i]) for r in [_HEADER, *rows]) for i in range(len(_HEADER) - 1)]
        for r in [_HEADER, *rows]:
            print("  ".join(c.ljust(w) for c, w in zip(r, widths)) + "  " + r[-1])
        print(f"\ndefault: {DEFAULT_MODEL}; * = classes kept by default. `segblur models NAME` shows a model's card, "
              "--full every card.")
        return 0
    for m in models:
        i = m.info
        print(f"{i.name}: {i.architecture}, classes {', '.join(i.classes)}; keeps {', '.join(i.foreground)}; "
              f"input {_input(i)}; {m.path.stat().st_size / 1e6:.1f} MB")
        for split, scores in _scores(m):
            print(f"  {split}: " + ", ".join(f"{k} {v:.3f}" for k, v in scores))
        card = model_card(m.path.stem)
        if card:
            print("\n" + card.strip() + "\n")
    return 0


_HEADER = ("name", "architecture", "classes", "input", "size", "test score")
_HEADLINE = ("person_iou", "mean_iou")


def _scores(model) -> list[tuple[str, list[tuple[str, float]]]]:  # noqa: ANN001 - an OnnxModel
    """(split, [(metric, value)...]) from the model's metadata, in the order stored."""
    metrics = model.info.extra.get("metrics") or {}
    return [(split, [(k, v) for k, v in scores.items() if isinstance(v, float)])
            for split, scores in metrics.items() if isinstance(scores, dict)]


def _input(info) -> str:  # noqa: ANN001 - a ModelInfo
    """192x192 (stretched), or ~192x192 aspect kept (1280x720 -> 256x144) for a ``resize: keep`` model."""
    h, w = info.input_size
    if info.resize != "keep":
        return f"{w}x{h}"
    kh, kw = info.input_size_for(720, 1280)
    return f"~{w}x{h} aspect kept (720p: {kw}x{kh})"


def _row(model) -> tuple[str, ...]:  # noqa: ANN001 - an OnnxModel
    i = model.info
    classes = ", ".join(c + ("*" if c in i.foreground else "") for c in i.classes)
    score = ""
    for split, scores in _scores(model)[:1]:  # the headline: person IoU, else mean IoU, else the first stored
        key, value = next((kv for want in _HEADLINE for kv in scores if kv[0] == want), scores[0] if scores else
                          ("", 0.0))
        score = f"{key} {value:.3f} ({split})" if key else ""
    return (i.name, i.architecture, classes, _input(i),
            f"{model.path.stat().st_size / 1e6:.1f} MB", score)
