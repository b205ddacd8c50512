"""Model soups: the element-wise average of checkpoints of one network (Wortsman et al., 2022).

Checkpoints fine-tuned from the same weights lie in one basin, and their average often validates higher than any
of them, at no cost at run time (it is the same network). person-lite's CPU cycles had levelled off at a validation
person IoU of about 0.835-0.840 each; the greedy soup of three of them scored 0.846 (the model card has the
figures). Greedy, as the paper recommends: the checkpoints are sorted by their own validation score and each is
added only if the soup's score does not drop. Every score is the trainer's own validation
(:meth:`~segblur.training.loop.Trainer.validate`: the recipe's monitor on its validation split), never a test split.
"""

from __future__ import annotations

import dataclasses
import json
import math
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from ..io import split_repeats, write_atomic
from ..progress import format_duration
from .checkpoint import load, save
from .config import TrainConfig, monitor_score

State = Mapping[str, torch.Tensor]


def average_states(states: Sequence[State]) -> dict[str, torch.Tensor]:
    """The element-wise mean of state dicts with the same keys and shapes (summed in float64, stored in each
    tensor's own dtype); integer tensors (batch-norm counters) are the first state's."""
    if not states:
        raise ValueError("nothing to average: no checkpoints")
    first = states[0]
    for i, s in enumerate(states[1:], 1):
        if set(s) != set(first):
            diff = sorted(set(s) ^ set(first))
            raise ValueError(f"checkpoint {i + 1} has other tensors than the first ({diff[0]}, ...)")
        bad = next((k for k, v in first.items() if s[k].shape != v.shape), None)
        if bad is not None:
            raise ValueError(f"checkpoint {i + 1}: {bad} has shape {tuple(s[bad].shape)}, the first's "
                             f"{tuple(first[bad].shape)}")
    out: dict[str, torch.Tensor] = {}
    for k, v in first.items():
        if v.is_floating_point():
            total = torch.zeros(v.shape, dtype=torch.float64)
            for s in states:
                total += s[k].detach().to("cpu", torch.float64)
            out[k] = (total / len(states)).to(v.dtype)
        else:
            out[k] = v.detach().clone()
    return out


@dataclasses.dataclass
class Step:
    """One step of a greedy soup: ``name`` tried, the soup's ``score`` with it, whether it was ``kept``."""

    name: str
    score: float
    kept: bool


def greedy_soup(states: Mapping[str, State], score: Callable[[State], float],
                on_step: Callable[[str, float, bool | None], None] | None = None,
                ) -> tuple[list[str], float, dict[str, float], list[Step]]:
    """Greedy soup of ``states`` (name -> state dict), scored by ``score`` (higher is better).

    Returns (the names kept, in the order added; the soup's score; each state's own score; the steps tried).
    ``on_step(name, score, kept)`` is told of every score as it comes (``kept`` None for a state's own score).
    Ties keep the state: an equal score from more members is the steadier average.
    """
    own: dict[str, float] = {}
    for name, state in states.items():
        own[name] = score(state)
        if on_step is not None:
            on_step(name, own[name], None)
    order = sorted(states, key=lambda n: -own[n] if math.isfinite(own[n]) else math.inf)
    chosen, best, steps = [order[0]], own[order[0]], []
    for name in order[1:]:
        s = score(average_states([states[n] for n in chosen + [name]]))
        kept = math.isfinite(s) and s >= best
        if kept:
            chosen.append(name)
            best = s
        steps.append(Step(name, s, kept))
        if on_step is not None:
            on_step(name, s, kept)
    return chosen, best, own, steps


def check_distinct(checkpoints: Sequence[str | Path]) -> None:
    """ValueError naming a checkpoint given twice (also as ``./a.pt`` or a link): its weights would count double in
    the average."""
    _, repeats = split_repeats([Path(p) for p in checkpoints])
    if repeats:
        again, first = repeats[0]
        also = f" (also as {first})" if str(again) != str(first) else ""
        raise ValueError(f"{again}: checkpoint given twice{also}; name each checkpoint once")


def make_soup(cfg: TrainConfig, checkpoints: Sequence[str | Path], *, greedy: bool = True,
              quiet: bool = False) -> dict[str, Any]:
    """Average ``checkpoints`` (their validated weights, ``model``) into ``cfg.out``/best.pt, scored on the
    validation split of the run ``cfg`` describes (a recipe: data, architecture, monitor); greedy, or all of them
    with ``greedy=False``. Writes ``soup.json`` beside it and returns that summary.

    The soup is a checkpoint like a training run's ``best.pt``: ``segblur export``, ``--pretrained`` and
    ``segblur evaluate`` read it. ValueError (one line naming the file) for a checkpoint of another network.
    """
    from .loop import Trainer, subnormals_flushed

    if len(checkpoints) < 2:
        raise ValueError("a soup needs at least two checkpoints")
    paths = [Path(p) for p in checkpoints]
    check_distinct(paths)
    names = [str(p) for p in paths]
    out = Path(cfg.out)
    # Only validation is needed: no ImageNet weights to load first, no teacher to open.
    trainer = Trainer(dataclasses.replace(cfg, pretrained=None, teacher=None), quiet=True)
    with subnormals_flushed():
        trainer.build()
        model = trainer.eval_model
        mine = model.state_dict()
        states: dict[str, State] = {}
        for path, name in zip(paths, names):
            if not path.is_file():
                raise ValueError(f"{path}: no such checkpoint file")
            try:
                state = load(path)["model"]
            except Exception as e:  # noqa: BLE001 - torch.load raises many kinds: one line, not a traceback
                raise ValueError(f"{path}: not a readable segblur checkpoint ({type(e).__name__})") from None
            bad = next((k for k in mine if k not in state or state[k].shape != mine[k].shape), None)
            if bad is not None or set(state) != set(mine):
                what = bad or sorted(set(state) - set(mine))[0]
                raise ValueError(f"{path}: not a checkpoint of this recipe's network ({cfg.arch} "
                                 f"{cfg.arch_kwargs}): {what} does not fit")
            states[name] = state
        last_metrics: dict[str, dict] = {}

        def score(state: State) -> float:
            model.load_state_dict(state)
            metrics, _ = trainer.validate(0)
            last_metrics["v"] = metrics
            return monitor_score(metrics, cfg.monitor)

        total = 2 * len(states) - 1 if greedy else 1
        t0, done = time.perf_counter(), [0]

        def report(name: str, s: float, kept: bool | None) -> None:
            done[0] += 1
            if quiet:
                return
            what = "alone" if kept is None else ("kept" if kept else "left out")
            per = (time.perf_counter() - t0) / done[0]  # seconds per validation pass
            print(f"soup [{done[0]}/{total}] {name}: {cfg.monitor} {s:.4f} {what}  {per:.1f} s/validation  "
                  f"ETA {format_duration(per * (total - done[0]))}", file=sys.stderr, flush=True)

        if greedy:
            chosen, best, own, steps = greedy_soup(states, score, report)
        else:
            chosen, own, steps = list(states), {}, []
            best = score(average_states(list(states.values())))
            report("all", best, True)
        soup = average_states([states[n] for n in chosen])
        model.load_state_dict(soup)
        metrics, _ = trainer.validate(0)  # the soup's own metrics, for best.pt's metadata
    summary = {"monitor": cfg.monitor, "best": best, "greedy": greedy, "checkpoints": chosen,
               "scores": own, "steps": [dataclasses.asdict(s) for s in steps], "val": metrics}
    out.mkdir(parents=True, exist_ok=True)
    save({"model": soup, "config": trainer.run_config(), "epoch": -1, "best": best, "val": metrics,
          "soup": chosen}, out / "best.pt")
    write_atomic(out / "soup.json", (json.dumps(summary, indent=2) + "\n").encode())
    return summary
