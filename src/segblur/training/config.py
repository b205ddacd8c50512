"""The settings of a training run: :class:`TrainConfig`, validated, and the layering that builds it.

Layers, later ones winning: the resumed run's checkpoint (``--resume``), a YAML recipe (``--config``), then the
options given on the command line. A recipe's relative ``data``, ``backgrounds`` and ``teacher`` file paths are
taken from the recipe's own folder, so ``segblur train --config recipes/x.yaml`` works from any working folder.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..data import resolve_spec
from ..data.person import join_path
from ..io import one_line
from ..names import MAX_IMAGE_SIZE, MAX_SEED, MAX_WORKERS, RESIZES
from .schedules import PER_BATCH, SCHEDULES

OPTIMIZERS = ("adam", "sgd")
MONITORS = ("mean_iou", "pixel_accuracy", "frequency_weighted_iou")  # or iou_<class>: one class's IoU


@dataclass
class TrainConfig:
    """Everything that defines a run; saved in every checkpoint and in ``metrics.json``."""

    data: str | dict[str, Any]
    arch: str
    out: str
    epochs: int = 50
    batch_size: int = 8
    image_size: int = 256
    resize: str = "stretch"  # stretch: every view and frame to image_size^2; keep: its aspect, the same pixels
    lr: float = 1e-3
    weight_decay: float = 1e-4
    optimizer: str = "adam"
    schedule: str = "plateau"
    warmup: float = 0.05
    momentum: float = 0.9
    plateau_patience: int = 3
    plateau_factor: float = 0.5
    min_lr: float = 1e-6
    early_stop: int = 10
    seed: int = 0
    device: str = "auto"
    workers: int = 0
    amp: bool = True
    channels_last: bool = True
    arch_kwargs: dict[str, Any] = field(default_factory=dict)
    augment: dict[str, Any] = field(default_factory=dict)  # changes to the kind's augmentation preset
    pretrained: str | None = None
    teacher: str | None = None  # distillation: KIND=MODEL or a model; its probabilities a second target
    teacher_weight: float = 0.5  # weight of the KL divergence from the teacher beside the labels' cross-entropy
    ema: float = 0.0  # decay per step of the weight average that is validated, saved and exported (0 = off)
    train_split: str | None = None
    val_split: str | None = None
    monitor: str = "mean_iou"
    backgrounds: str | None = None
    mean: list[float] | None = None
    std: list[float] | None = None
    steps_per_epoch: int | None = None
    val_limit: int | None = None
    tensorboard: bool = True
    wandb: bool = False
    wandb_project: str = "segblur"
    threads: int | None = None

    def validate(self) -> None:
        """Refuse impossible settings with one line each, before any work starts."""
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            kinds = [k.strip().split("[")[0] for k in str(f.type).split("|")]
            if v is None and "None" in kinds:
                continue
            if not any(_TYPE_CHECKS.get(k, _anything)(v) for k in kinds):
                wanted = " or ".join(k for k in kinds if k != "None")
                raise ValueError(f"setting {f.name!r} must be {wanted}, got {v!r}")
        checks = [
            (self.epochs >= 1, f"epochs must be >= 1, got {self.epochs}"),
            (self.batch_size >= 1, f"batch size must be >= 1, got {self.batch_size}"),
            (32 <= self.image_size <= MAX_IMAGE_SIZE,
             f"image size must be in 32..{MAX_IMAGE_SIZE}, got {self.image_size}"),
            (0 <= self.workers <= MAX_WORKERS, f"workers must be in 0..{MAX_WORKERS}, got {self.workers}"),
            (0 <= self.seed <= MAX_SEED, f"seed must be in 0..{MAX_SEED}, got {self.seed}"),
            (self.resize in RESIZES, f"resize must be one of {', '.join(RESIZES)}, got {self.resize!r}"),
            (self.lr > 0 and math.isfinite(self.lr), f"learning rate must be positive, got {self.lr}"),
            (self.weight_decay >= 0, f"weight decay must be >= 0, got {self.weight_decay}"),
            (self.optimizer in OPTIMIZERS, f"optimizer must be one of {', '.join(OPTIMIZERS)}"),
            (self.schedule in SCHEDULES, f"schedule must be one of {', '.join(SCHEDULES)}"),
            (0 <= self.warmup < 1, f"warmup must be a fraction of the steps in [0, 1), got {self.warmup}"),
            (self.min_lr >= 0 and math.isfinite(self.min_lr), f"min_lr must be >= 0, got {self.min_lr}"),
            (self.schedule != "poly" or self.min_lr < self.lr,
             f"the poly schedule decays lr to min_lr, which must be below lr ({self.lr}), got {self.min_lr}"),
            (self.schedule != "cosine" or 0 < self.min_lr < self.lr / 10,
             f"the cosine schedule decays to min_lr, which must be above 0 and below lr/10, got {self.min_lr}"),
            (self.device in ("auto", "cpu", "cuda") or self.device.startswith("cuda:"),
             f"device must be auto, cpu or cuda, got {self.device!r}"),
            (self.early_stop >= 0, "early stop patience must be >= 0 (0 = off)"),
            (self.teacher_weight >= 0 and math.isfinite(self.teacher_weight),
             f"teacher weight must be >= 0, got {self.teacher_weight}"),
            (0 <= self.ema < 1, f"ema decay must be in [0, 1) (0 = off), got {self.ema}"),
            (self.monitor in MONITORS or (self.monitor.startswith("iou_") and len(self.monitor) > 4),
             f"monitor must be one of {', '.join(MONITORS)} or iou_<class>, got {self.monitor!r}"),
        ]
        for name in ("mean", "std"):
            v = getattr(self, name)
            checks.append((v is None or (len(v) == 3 and all(_is_number(x) and x >= 0 for x in v)
                                         and (name == "mean" or all(x > 0 for x in v))),
                           f"{name} must be 3 numbers (R, G, B in 0-255 units), got {v!r}"))
        for ok, msg in checks:
            if not ok:
                raise ValueError(msg)
        from .models import list_models  # the registry (importing it imports torch)

        if self.arch not in list_models():
            raise ValueError(f"unknown architecture {self.arch!r}; choose from {', '.join(list_models())}")

    @classmethod
    def fields(cls) -> list[str]:
        """Names accepted in a YAML config file."""
        return [f.name for f in dataclasses.fields(cls)]


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _anything(v: Any) -> bool:
    return True


_TYPE_CHECKS = {"int": lambda v: isinstance(v, int) and not isinstance(v, bool), "float": _is_number,
                "str": lambda v: isinstance(v, str), "bool": lambda v: isinstance(v, bool),
                "dict": lambda v: isinstance(v, dict), "list": lambda v: isinstance(v, list)}

# Settings whose change makes a resumed run differ from an uninterrupted one.
EXACTNESS_FIELDS = ("data", "arch", "arch_kwargs", "augment", "batch_size", "image_size", "resize", "lr",
                    "weight_decay", "optimizer", "schedule", "warmup", "momentum", "plateau_patience",
                    "plateau_factor", "min_lr", "seed", "train_split", "val_split", "backgrounds", "mean", "std",
                    "steps_per_epoch", "val_limit", "monitor", "pretrained", "teacher", "teacher_weight", "ema")


def monitor_score(metrics: Mapping[str, Any], monitor: str) -> float:
    """The monitored validation score (``iou_<class>`` is that class's IoU); NaN when absent."""
    if monitor.startswith("iou_") and monitor not in metrics:
        value = (metrics.get("per_class_iou") or {}).get(monitor[4:])
    else:
        value = metrics.get(monitor)
    return float("nan") if value is None else float(value)


def saved_config(run_dir: str | Path) -> dict[str, Any]:
    """The TrainConfig settings stored in ``run_dir/last.pt`` (what ``--resume`` continues with)."""
    from .checkpoint import load

    path = Path(run_dir) / "last.pt"
    if not path.exists():
        raise FileNotFoundError(f"{path}: nothing to resume (no checkpoint)")
    try:
        saved = load(path).get("config", {})
    except Exception as e:  # noqa: BLE001 - a truncated or foreign file: one line, not a traceback
        raise ValueError(f"{path}: not a readable checkpoint ({type(e).__name__})") from None
    return {k: saved[k] for k in TrainConfig.fields() if k in saved}


def load_recipe(path: str | Path) -> dict[str, Any]:
    """The settings of a YAML recipe, with relative ``data``, ``backgrounds`` and teacher file paths taken from its
    folder."""
    import yaml

    path = Path(path)
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as e:
        raise ValueError(f"{path}: cannot read the config ({one_line(e)})") from None
    if not isinstance(loaded, dict):
        raise ValueError(f"{path}: expected a mapping of settings")
    unknown = sorted(set(loaded) - set(TrainConfig.fields()))
    if unknown:
        raise ValueError(f"{path}: unknown settings {unknown}; known: {', '.join(TrainConfig.fields())}")
    if isinstance(loaded.get("data"), (str, dict)):
        loaded["data"] = resolve_spec(loaded["data"], path.parent)
    if isinstance(loaded.get("backgrounds"), str):
        loaded["backgrounds"] = join_path(path.parent, loaded["backgrounds"])
    if isinstance(loaded.get("teacher"), str):
        from .teachers import split_spec  # the runtime's imports: only for a recipe that names a teacher

        kind, model = split_spec(loaded["teacher"])
        if Path(model).suffix.lower() in (".tflite", ".onnx"):  # a file, not a built-in model's name
            model = join_path(path.parent, model)
            loaded["teacher"] = model if kind is None else f"{kind}={model}"
    return loaded


def layered_config(options: Mapping[str, Any], *, recipe: str | Path | None = None,
                   resume: str | Path | None = None) -> tuple[TrainConfig, list[str]]:
    """The run's TrainConfig: the checkpoint in ``resume`` (a run folder), then ``recipe``, then ``options``
    (only those given: not None); returns it with the settings a resume changes, as ``"name old -> new"`` notes.
    """
    values: dict[str, Any] = {}
    saved: dict[str, Any] = {}
    if resume is not None:
        saved = saved_config(resume)
        values.update(saved)
    if recipe is not None:
        values.update(load_recipe(recipe))
    unknown = sorted(set(options) - set(TrainConfig.fields()))
    if unknown:
        raise ValueError(f"unknown settings {unknown}")
    merged = ("arch_kwargs", "augment")  # KEY=VALUE options add to the recipe's mapping instead of replacing it
    values.update({k: v for k, v in options.items() if v is not None and k not in merged})
    for key in merged:
        if options.get(key):
            values[key] = {**(values.get(key) or {}), **options[key]}
    for key, flag in (("data", "--data"), ("arch", "--arch"), ("out", "--out")):
        if not values.get(key):
            raise ValueError(f"{flag} is required (on the command line or in --config)")
    values["out"] = str(values["out"])
    cfg = TrainConfig(**values)
    cfg.validate()
    if resume is None:
        return cfg, []
    check_resumable(saved, cfg, Path(resume) / "last.pt")
    exact = EXACTNESS_FIELDS + (("epochs",) if cfg.schedule in PER_BATCH else ())
    changed = changed_settings(saved, cfg, exact)
    return cfg, [f"{k} {old!r} -> {new!r}" for k, (old, new) in changed.items()]


def check_resumable(saved: Mapping[str, Any], cfg: TrainConfig, checkpoint: str | Path) -> None:
    """ValueError naming ``checkpoint`` and the setting when ``cfg`` cannot continue its weights (config ``saved``):
    another architecture, architecture option (an option left out counts as its default) or input size. Checked
    before the network is built: a wrong one could be huge, and the weights would not load into it anyway."""
    def refuse(what: str, old: Any, new: Any) -> None:
        raise ValueError(f"{checkpoint}: cannot resume, the checkpoint's {what} is {old!r}, this run's is {new!r} "
                         f"(start a new run with another --out)")

    if "arch" in saved and saved["arch"] != cfg.arch:
        refuse("arch", saved["arch"], cfg.arch)
    from .models import model_options

    defaults = model_options(cfg.arch)
    old, new = {**defaults, **(saved.get("arch_kwargs") or {})}, {**defaults, **cfg.arch_kwargs}
    for key in sorted(set(old) | set(new)):
        if old.get(key, "not set") != new.get(key, "not set"):
            refuse(f"arch option {key}", old.get(key, "not set"), new.get(key, "not set"))
    if "image_size" in saved and saved["image_size"] != cfg.image_size:
        refuse("image_size", saved["image_size"], cfg.image_size)


def changed_settings(saved: Mapping[str, Any], cfg: TrainConfig, keys: Iterable[str]) -> dict[str, tuple[Any, Any]]:
    """The settings among ``keys`` that ``cfg`` changes from a checkpoint's config ``saved``, as name: (old, new).

    A setting the checkpoint predates ran with its default then (each was added with the old behaviour as it).
    """
    defaults = {f.name: f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
                for f in dataclasses.fields(TrainConfig)
                if f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING}
    before = {k: saved[k] if k in saved else defaults.get(k) for k in keys if k in saved or k in defaults}
    return {k: (before[k], getattr(cfg, k)) for k in before if before[k] != getattr(cfg, k)}
