"""The training loop, the one way segblur trains: supervised training of any registered architecture on any dataset.

Cross-entropy with the dataset's ignore index; Adam or SGD with ReduceLROnPlateau on the validation
score, a poly schedule or one-cycle cosine (:mod:`.schedules`); mixed precision and channels-last
on CUDA; a checkpoint after every epoch written atomically (``last.pt``, ``best.pt``), from which
``resume`` continues exactly (weights, optimiser, scheduler, epoch, RNG: the samples drawn and the
augmentation are functions of seed and epoch, :mod:`.sampling`); an optional moving average of the weights
(``ema``, :mod:`.ema`) that is validated, saved and exported; early stopping; data-parallel training
with DDP when launched by ``torchrun`` (gloo on CPU, NCCL on GPUs). Validation scores the ORIGINAL-size
masks: predictions are upsampled to each mask, as the runtime does.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import random
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader

from ..data import SegDataset, load_backgrounds, open_dataset
from ..eval.metrics import ConfusionMatrix
from ..interrupts import signals_held
from ..io import write_atomic
from ..media.images import write_image
from ..progress import Progress, format_duration
from .checkpoint import load, save
from .config import TrainConfig, changed_settings, check_resumable, monitor_score
from .data.presets import augment_options
from .data.segmentation import SegTorchDataset, eval_collate
from .distributed import init_distributed, pick_device
from .ema import WeightAverage
from .models import create_model
from .sampling import EpochSampler, ShapeBatches, sampling_groups
from .schedules import PER_BATCH, SETTINGS, make_scheduler, retune, schedule_length
from .tracking import Tracker, comparison_grid
from .workers import batches, quiet_worker

log = logging.getLogger("segblur")

def seed_everything(seed: int) -> None:
    """Python, numpy and torch generators (CPU runs repeat bit for bit; cuDNN may pick other kernels on GPUs)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def flushing_subnormals() -> bool:
    """Whether torch's CPU kernels flush subnormal floats to zero now (torch has no getter: 1e-20 squared is one)."""
    tiny = torch.tensor([1e-20])
    return bool((tiny * tiny).item() == 0.0)


@contextmanager
def subnormals_flushed() -> Iterator[None]:
    """Flush subnormal floats to zero inside, as before outside. Tiny activations and gradients of pretrained or
    long-trained weights take a slow microcode path on x86: flushing made a fine-tuning step of person-lite 2.2x
    faster (1.24 -> 0.55 s on 2 Xeon cores); values under 1e-38 change no result that matters."""
    before = flushing_subnormals()
    torch.set_flush_denormal(True)
    try:
        yield
    finally:
        torch.set_flush_denormal(before)


class Trainer:
    """Trains ``config.arch`` on ``config.data`` into ``config.out``; :meth:`fit` returns the final summary.

    ``on_epoch(epoch, metrics)`` is called after each validation (the tuner reports to Optuna there and may
    raise to prune the run).
    """

    def __init__(self, config: TrainConfig, *, resume: bool = False, quiet: bool = False,
                 on_epoch: Callable[[int, dict], None] | None = None) -> None:
        config.validate()
        self.cfg = config
        self.resume = resume
        self.quiet = quiet
        self.on_epoch = on_epoch
        self.out = Path(config.out)
        self.resumed: dict | None = None  # the checkpoint --resume continues, read before the network is built

    # -- set-up -----------------------------------------------------------------------------------------------
    def build(self) -> None:
        """Data, network, optimiser and schedule, without training: :meth:`fit` calls it, and so does anything that
        only validates weights with this run's data (:func:`~segblur.training.soup.make_soup`)."""
        self._build()

    def _build(self) -> None:
        cfg = self.cfg
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        self.device = pick_device(cfg.device, int(os.environ.get("LOCAL_RANK", "0")))
        self.dist = init_distributed(self.device)
        self.cuda = self.device.type == "cuda"
        seed_everything(cfg.seed)
        self.dataset: SegDataset = open_dataset(cfg.data)
        self.classes = list(self.dataset.classes)
        if cfg.monitor.startswith("iou_") and cfg.monitor[4:] not in self.classes:
            raise ValueError(f"monitor {cfg.monitor}: no class {cfg.monitor[4:]!r} in {', '.join(self.classes)}")
        self.val_split = cfg.val_split or self.dataset.default_split("val")
        self.train_split = cfg.train_split or self.dataset.training_split(self.val_split)
        backgrounds = load_backgrounds(cfg.backgrounds) if cfg.backgrounds else None
        norm = {"mean": cfg.mean, "std": cfg.std, "resize": cfg.resize}
        self.train_ds = SegTorchDataset(self.dataset, self.train_split, train=True, image_size=cfg.image_size,
                                        augment=augment_options(self.dataset.kind, cfg.augment),
                                        backgrounds=backgrounds, seed=cfg.seed, **norm)
        self.val_ds = SegTorchDataset(self.dataset, self.val_split, train=False, image_size=cfg.image_size, **norm)
        self.sampler = EpochSampler(len(self.train_ds), cfg.seed, self.dist.rank, self.dist.world,
                                    groups=sampling_groups(self.train_ds.samples,
                                                           self.dataset.weights(self.train_split)))
        batching = ({"batch_sampler": ShapeBatches(self.sampler, cfg.batch_size, cfg.image_size, cfg.seed)}
                    if cfg.resize == "keep"  # one view shape per batch
                    else {"batch_size": cfg.batch_size, "sampler": self.sampler, "drop_last": True})
        workers = {"num_workers": cfg.workers, "worker_init_fn": quiet_worker if cfg.workers else None}
        self.loader = DataLoader(self.train_ds, pin_memory=self.cuda, persistent_workers=cfg.workers > 0, **workers,
                                 **batching)
        n_val = len(self.val_ds) if cfg.val_limit is None else min(cfg.val_limit, len(self.val_ds))
        val_idx = list(range(self.dist.rank, n_val, self.dist.world))
        # Kept aspect ratios give every validation image its own input size: one at a time.
        self.val_loader = DataLoader(torch.utils.data.Subset(self.val_ds, val_idx),
                                     batch_size=1 if cfg.resize == "keep" else cfg.batch_size,
                                     shuffle=False, collate_fn=eval_collate, **workers)
        self.steps_per_epoch = min(len(self.loader), cfg.steps_per_epoch or len(self.loader))

        old_classes = (self.resumed or {}).get("config", {}).get("classes")
        if old_classes is not None and old_classes != self.classes:
            raise ValueError(f"{self.out / 'last.pt'}: cannot resume, the checkpoint's classes are {old_classes!r}, "
                             f"this run's are {self.classes!r}")
        model = create_model(cfg.arch, num_classes=len(self.classes), **cfg.arch_kwargs)  # bad options: ValueError
        if cfg.pretrained:
            from .models.pretrained import load_pretrained

            # ImageNet backbones fold the network's input normalisation into their stem where they can.
            skipped = load_pretrained(model, cfg.pretrained, input_norm=(self.train_ds.mean, self.train_ds.std))
            if self.dist.main and not self.quiet:
                print(f"segblur: initialised from {cfg.pretrained}" +
                      (f" ({len(skipped)} tensors not loaded: {', '.join(skipped[:4])}...)" if skipped else ""),
                      file=sys.stderr)
        self.distiller = None
        if cfg.teacher:
            if len(self.classes) != 2:
                raise ValueError(f"teacher {cfg.teacher}: distillation needs two classes (background and one "
                                 f"other, e.g. person), this dataset has {len(self.classes)}")
            from .distill import Distiller

            self.distiller = Distiller.open(cfg.teacher, self.train_ds.mean, self.train_ds.std, cfg.teacher_weight,
                                            threads=cfg.threads)
        model.to(self.device)
        # Channels-last on CPU as on CUDA: a 192 px EfficientNet-Lite0 step took 0.66 s instead of 0.92 s on 2
        # Xeon cores (oneDNN's layout); an architecture may say no (``channels_last = False``: DeconvNet).
        self.channels_last = cfg.channels_last and getattr(model, "channels_last", True)
        if self.channels_last:
            model = model.to(memory_format=torch.channels_last)
        self.model = model
        self.net: nn.Module = model
        self.average = WeightAverage(model, cfg.ema) if cfg.ema else None
        self.eval_model: nn.Module = self.average.module if self.average else model
        if self.dist.world > 1:
            self.net = nn.parallel.DistributedDataParallel(
                model, device_ids=[self.device.index] if self.cuda else None)
        params = [p for p in model.parameters() if p.requires_grad]
        if cfg.optimizer == "adam":
            self.opt = torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
        else:
            self.opt = torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
        self.sched = make_scheduler(self.opt, cfg.schedule, lr=cfg.lr, total_steps=cfg.epochs * self.steps_per_epoch,
                                    warmup=cfg.warmup, min_lr=cfg.min_lr, plateau_factor=cfg.plateau_factor,
                                    plateau_patience=cfg.plateau_patience)
        self.amp_dtype = None
        if self.cuda and cfg.amp:
            self.amp_dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp_dtype == torch.float16)

    def run_config(self) -> dict[str, Any]:
        """What export and evaluate need to rebuild and feed the network."""
        return {**dataclasses.asdict(self.cfg), "classes": self.classes,
                "foreground": list(self.dataset.foreground), "image_size": self.cfg.image_size,
                "mean": list(self.train_ds.mean), "std": list(self.train_ds.std), "train_split": self.train_split,
                "val_split": self.val_split, "train_samples": len(self.train_ds), "epoch_samples": self.sampler.draws,
                "val_samples": len(self.val_ds), "world_size": self.dist.world}

    # -- checkpoints ------------------------------------------------------------------------------------------
    def _state(self, epoch: int, best: float, bad_epochs: int, val: dict, history: list) -> dict:
        # "model" is what was validated (the average, with ema): export, --pretrained and predict read it;
        # "train_model" holds the raw weights training continues from.
        average = {} if self.average is None else {"train_model": self.model.state_dict(),
                                                    "ema_updates": self.average.updates}
        return {"model": self.eval_model.state_dict(), **average, "optimizer": self.opt.state_dict(),
                "scheduler": self.sched.state_dict(), "scaler": self.scaler.state_dict(), "epoch": epoch,
                "best": best, "bad_epochs": bad_epochs, "val": val, "best_val": self.best_val, "history": history,
                "config": self.run_config(),
                "torch_rng": torch.get_rng_state(), "numpy_rng": np.random.get_state(),
                "python_rng": random.getstate(),
                "cuda_rng": torch.cuda.get_rng_state_all() if self.cuda else None}

    def _restore(self, ck: dict) -> tuple[int, float, int, list]:
        old = ck.get("config", {})  # its arch, options, input size and classes were checked before the build
        saved, mine = schedule_length(ck["scheduler"]), schedule_length(self.sched.state_dict())
        if saved != mine:
            raise ValueError(f"{self.out / 'last.pt'}: cannot resume, its {self.cfg.schedule} schedule was laid out "
                             f"for {saved} steps and this run has {mine} (keep --epochs and --steps-per-epoch; or "
                             f"start a new run from its weights with --pretrained)")
        self.model.load_state_dict(ck.get("train_model", ck["model"]))
        if self.average is not None:  # a run that had no average starts one from its weights
            self.average.load_state_dict(ck["model"], ck.get("ema_updates", 0))
        # Settings changed on resume (--lr, --min-lr...) apply: the state dicts bring the old run's along.
        fresh_groups = [{k: v for k, v in g.items() if k != "params"} for g in self.opt.param_groups]
        fresh_schedule = self.sched.state_dict()
        self.opt.load_state_dict(ck["optimizer"])
        self.sched.load_state_dict(ck["scheduler"])
        changed = changed_settings(old, self.cfg, SETTINGS)
        if changed:
            retune(self.opt, self.sched, fresh_groups, fresh_schedule, changed)
        if ck.get("scaler"):
            self.scaler.load_state_dict(ck["scaler"])
        torch.set_rng_state(ck["torch_rng"])
        np.random.set_state(ck["numpy_rng"])
        random.setstate(ck["python_rng"])
        if self.cuda and ck.get("cuda_rng") is not None:
            torch.cuda.set_rng_state_all(ck["cuda_rng"])
        self.best_val = ck.get("best_val")
        return ck["epoch"] + 1, ck["best"], ck.get("bad_epochs", 0), ck.get("history", [])

    # -- one epoch --------------------------------------------------------------------------------------------
    def train_epoch(self, epoch: int) -> float:
        """One pass over this rank's share of the training split; returns the mean loss (over all ranks)."""
        self.net.train()
        self.sampler.set_epoch(epoch)
        self.train_ds.epoch = epoch
        total, count = torch.zeros((), dtype=torch.float64), 0
        progress = Progress(self.steps_per_epoch * self.cfg.batch_size * self.dist.world, "images",
                            enabled=self.dist.main and not self.quiet)
        with batches(self.loader) as loader:
            for step, (x, y) in enumerate(loader):
                if step >= self.steps_per_epoch:
                    break
                soft = self.distiller.targets(x) if self.distiller is not None else None
                x = x.to(self.device, non_blocking=True)
                y = y.to(self.device, non_blocking=True)
                if self.channels_last:
                    x = x.contiguous(memory_format=torch.channels_last)
                with torch.autocast(self.device.type, dtype=self.amp_dtype or torch.float32,
                                    enabled=self.amp_dtype is not None):
                    logits = self.net(x)
                    loss = F.cross_entropy(logits.float(), y, ignore_index=self.dataset.ignore_index)
                    aux = getattr(self.model, "aux_logits", None)  # DeepLabv3 with aux=True, as torchvision's recipe
                    if aux is not None:
                        loss = loss + 0.5 * F.cross_entropy(aux.float(), y, ignore_index=self.dataset.ignore_index)
                    if soft is not None:
                        loss = loss + self.distiller.loss(logits, soft)
                if not torch.isfinite(loss):
                    raise FloatingPointError(f"epoch {epoch + 1} step {step}: the loss is {loss.item()} "
                                             f"(try a lower --lr)")
                self.opt.zero_grad(set_to_none=True)
                self.scaler.scale(loss).backward()
                self.scaler.step(self.opt)
                self.scaler.update()
                if self.cfg.schedule in PER_BATCH:
                    self.sched.step()
                if self.average is not None:
                    self.average.update(self.model)
                total += loss.detach().double().cpu() * len(x)
                count += len(x)
                progress.extra = f"epoch {epoch + 1}/{self.cfg.epochs} loss {float(total) / count:.4f}"
                progress.update(len(x) * self.dist.world)
        progress.close()
        stats = torch.tensor([total.item(), float(count)], dtype=torch.float64)
        if self.dist.world > 1:
            dist.all_reduce(stats)
        return float(stats[0] / max(1.0, stats[1]))

    @torch.no_grad()
    def validate(self, epoch: int) -> tuple[dict, list]:
        """Confusion-matrix metrics on the validation split at the masks' original size (all ranks combined), of the
        weight average when there is one."""
        self.net.eval()
        cm = ConfusionMatrix(len(self.classes), self.dataset.ignore_index)
        examples = []
        with batches(self.val_loader) as loader:
            for x, masks in loader:
                x = x.to(self.device)
                if self.channels_last:
                    x = x.contiguous(memory_format=torch.channels_last)
                with torch.autocast(self.device.type, dtype=self.amp_dtype or torch.float32,
                                    enabled=self.amp_dtype is not None):
                    logits = self.eval_model(x)
                for i, mask in enumerate(masks):
                    up = F.interpolate(logits[i:i + 1].float(), size=mask.shape[-2:], mode="bilinear",
                                       align_corners=False)
                    pred = up.argmax(1)[0].cpu().numpy()
                    cm.update(mask.numpy(), pred)
                    if len(examples) < 4 and self.dist.main:
                        examples.append((x[i].float().cpu(), mask.numpy(), pred))
        if self.dist.world > 1:
            mat = torch.from_numpy(cm.mat)
            dist.all_reduce(mat)
            cm.mat = mat.numpy()
        metrics = cm.compute(self.classes)
        return metrics, examples

    def _examples_picture(self, examples: list) -> np.ndarray:
        import cv2

        rows = []
        mean, std = np.array(self.val_ds.mean, np.float32), np.array(self.val_ds.std, np.float32)
        for x, gt, pred in examples:
            img = np.clip(x.numpy().transpose(1, 2, 0) * std + mean, 0, 255).astype(np.uint8)
            img = cv2.resize(img, gt.shape[::-1], interpolation=cv2.INTER_LINEAR)
            rows.append((img, gt, pred))
        return comparison_grid(rows, self.dataset.ignore_index)

    # -- the run ----------------------------------------------------------------------------------------------
    def fit(self) -> dict:
        """Train (or continue) to ``epochs`` or early stop; returns the summary written to ``metrics.json``."""
        with subnormals_flushed():
            return self._fit()

    def _fit(self) -> dict:
        last = self.out / "last.pt"
        # Checked by every rank before any work (dataset decoding, weight downloads, process group).
        if self.resume and not last.exists():
            raise FileNotFoundError(f"{last}: nothing to resume (no checkpoint)")
        # best.pt alone counts too: a soup's folder (segblur soup) holds one and no last.pt.
        if not self.resume and (last.exists() or (self.out / "best.pt").exists()):
            raise FileExistsError(f"{self.out}: holds a run already; pass --resume to continue it or choose "
                                  f"another --out")
        if self.resume:
            self.resumed = load(last)
            check_resumable(self.resumed.get("config", {}), self.cfg, last)
        self._build()
        if len(self.loader) == 0:  # checked here, not in build: a soup only validates (any split size will do)
            raise ValueError(f"{self.dataset.root}: split {self.train_split!r} draws {self.sampler.draws} samples per "
                             f"epoch, fewer than one batch of {self.cfg.batch_size} per process")
        cfg, main = self.cfg, self.dist.main
        start, best, bad_epochs, history = 0, -math.inf, 0, []
        self.best_val: dict | None = None  # validation metrics of best.pt
        if self.resume:
            start, best, bad_epochs, history = self._restore(self.resumed)
            self.resumed = None  # the weights are in the network now
            if main and not self.quiet:
                print(f"segblur: resumed {last} after epoch {start}", file=sys.stderr)
        tracker = None
        if main:
            self.out.mkdir(parents=True, exist_ok=True)
            tracker = Tracker(self.out, self.run_config(), tensorboard=cfg.tensorboard, wandb=cfg.wandb,
                              wandb_project=cfg.wandb_project, resume=start if self.resume else None)
            if not self.quiet:
                n_params = sum(p.numel() for p in self.model.parameters()) / 1e6
                draws = f" ({self.sampler.draws} per epoch)" if self.sampler.draws != len(self.train_ds) else ""
                print(f"segblur: training {cfg.arch} ({n_params:.2f} M parameters) on {self.dataset.kind}:"
                      f"{self.dataset.root} [{self.train_split}: {len(self.train_ds)}{draws}, {self.val_split}: "
                      f"{len(self.val_ds)}] on {self.device}"
                      + (f" x{self.dist.world} processes" if self.dist.world > 1 else ""), file=sys.stderr)
                for note in getattr(self.dataset, "notes", []):
                    print(f"segblur: note: {note}", file=sys.stderr)
        stopped_early = bool(cfg.early_stop and bad_epochs >= cfg.early_stop)  # a resumed run that had stopped
        t_run = time.perf_counter()
        try:
            for epoch in range(start, cfg.epochs if not stopped_early else start):
                t0 = time.perf_counter()
                loss = self.train_epoch(epoch)
                metrics, examples = self.validate(epoch)
                score = monitor_score(metrics, cfg.monitor)
                if cfg.schedule == "plateau":
                    self.sched.step(score if math.isfinite(score) else -1.0)
                improved = math.isfinite(score) and score > best
                if improved:
                    best, bad_epochs, self.best_val = score, 0, metrics
                else:
                    bad_epochs += 1
                lr = self.opt.param_groups[0]["lr"]
                row = {"train_loss": loss, "lr": lr, "epoch_seconds": time.perf_counter() - t0,
                       **{f"val_{k}": v for k, v in metrics.items() if isinstance(v, (int, float))},
                       **{f"val_iou_{c}": v for c, v in metrics["per_class_iou"].items()}}
                history.append({"epoch": epoch + 1, "train_loss": loss, "lr": lr,
                                cfg.monitor: score, "pixel_accuracy": metrics["pixel_accuracy"]})
                if main:
                    # The log row first, best.pt next, last.pt (what --resume reads) last: killed anywhere in
                    # between, the resumed run repeats this epoch and its row and best.pt come out right.
                    tracker.log(epoch + 1, row)
                    state = self._state(epoch, best, bad_epochs, metrics, history)
                    with signals_held():  # Ctrl-C inside torch.save's writer was "unexpected pos ..." (exit 2)
                        if improved:
                            save(state, self.out / "best.pt")
                        save(state, last)
                    if examples:
                        picture = self._examples_picture(examples)
                        tracker.image("val/image_truth_prediction", epoch + 1, picture)
                        write_image(self.out / "predictions.jpg", picture, quality=90)
                    if not self.quiet:
                        done = epoch + 1 - start
                        eta = (time.perf_counter() - t_run) / done * (cfg.epochs - epoch - 1)
                        ious = " ".join(f"{c} {v:.3f}" for c, v in metrics["per_class_iou"].items()
                                        if v is not None and len(self.classes) <= 6)
                        print(f"epoch {epoch + 1}/{cfg.epochs} loss {loss:.4f} val {cfg.monitor} {score:.4f} "
                              f"pixel acc {metrics['pixel_accuracy']:.4f} {ious} lr {lr:.1e} "
                              f"{time.perf_counter() - t0:.0f}s ETA {format_duration(eta)}"
                              + (" *" if improved else ""), file=sys.stderr, flush=True)
                if self.on_epoch is not None:
                    self.on_epoch(epoch, metrics)
                if cfg.early_stop and bad_epochs >= cfg.early_stop:
                    stopped_early = True
                    if main and not self.quiet:
                        print(f"segblur: early stop: no better {cfg.monitor} for {bad_epochs} epochs",
                              file=sys.stderr)
                    break
        finally:
            if tracker is not None:
                tracker.close()
        summary = self._summary(best, history, stopped_early)
        if main:
            write_atomic(self.out / "metrics.json", (json.dumps(summary, indent=2) + "\n").encode())
        if self.dist.world > 1:
            dist.barrier()
        return summary

    def _summary(self, best: float, history: list, stopped_early: bool) -> dict:
        return {"arch": self.cfg.arch, "data": self.cfg.data, "monitor": self.cfg.monitor,
                "best": best if math.isfinite(best) else None, "best_val": self.best_val,
                "epochs_run": len(history), "stopped_early": stopped_early, "history": history,
                "config": self.run_config()}
