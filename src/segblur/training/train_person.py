"""Train the default real-time person model (``fastseg``) on the binary person sets.

    python -m segblur.training.train_person --data-root ../shared/data --out runs/person-fast

Data: flickr-portraits-shen2016 (train split, duplicates of test removed) and
human-segmentation-vikram (all but every 7th image), with cut-outs pasted onto the people-free
``backgrounds``. Validation: the Shen ``unlisted`` ids. Adam, cross-entropy, cosine or
ReduceLROnPlateau schedule; a checkpoint after every epoch (atomic), ``--resume`` continues.
This recipe grows into ``segblur train`` (a separate issue).
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset

from ..eval.evaluation import SHEN, VIKRAM, person_items
from ..eval.metrics import ConfusionMatrix
from ..progress import format_duration
from .checkpoint import load, save
from .data.person import AugmentConfig, PersonAugment, load_backgrounds, load_pair
from .models import create_model

MEAN = (127.5, 127.5, 127.5)
STD = (127.5, 127.5, 127.5)


def to_tensor(img: np.ndarray) -> torch.Tensor:
    """HxWx3 uint8 RGB -> 3xHxW float, normalised with MEAN/STD (0-255 units)."""
    x = torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1).float()
    return (x - torch.tensor(MEAN).view(3, 1, 1)) / torch.tensor(STD).view(3, 1, 1)


class AugmentedPairs(Dataset):
    """Each item: augmented (image, target) from an in-memory list, seeded by (seed, epoch, index)."""

    def __init__(self, pairs, augment: PersonAugment, seed: int) -> None:
        self.pairs, self.augment, self.seed, self.epoch = pairs, augment, seed, 0

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, i: int):
        rng = random.Random((self.seed * 1_000_003 + self.epoch) * 1_000_003 + i)
        img, mask = self.augment(*self.pairs[i], rng)
        return to_tensor(img), torch.from_numpy(mask.astype(np.int64))


def evaluate(model: torch.nn.Module, pairs, size: int) -> dict:
    """Person IoU etc. at the masks' own resolution: stretch to ``size``, predict, resize back."""
    model.eval()
    cm = ConfusionMatrix(2)
    with torch.no_grad():
        for img, mask in pairs:
            x = to_tensor(cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA))[None]
            logits = F.interpolate(model(x), size=mask.shape, mode="bilinear", align_corners=False)
            cm.update(mask, logits.argmax(1)[0].numpy())
    return cm.compute(["background", "person"])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-root", type=Path, default=Path("../shared/data"))
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--arch", default="fastseg")
    ap.add_argument("--width", type=float, default=1.0)
    ap.add_argument("--image-size", type=int, default=192)
    ap.add_argument("--epochs", type=int, default=64)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--weight-decay", type=float, default=1e-4)
    ap.add_argument("--schedule", choices=["cosine", "plateau"], default="cosine")
    ap.add_argument("--vikram-repeat", type=int, default=2, help="oversample the full-body scenes")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--resume", action="store_true", help="continue RUN_DIR/last.pt exactly")
    ap.add_argument("--init", type=Path, default=None, help="start from this checkpoint's weights (fine-tuning)")
    args = ap.parse_args(argv)

    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    if args.threads:
        torch.set_num_threads(args.threads)
    t0 = time.time()

    def pairs(dataset: str, split: str, max_side: int | None) -> list:
        return [load_pair(img, mask, max_side) for _, img, mask in person_items(args.data_root, dataset, split)]

    train = pairs(SHEN, "train", 320) + pairs(VIKRAM, "train", 320) * args.vikram_repeat
    val = pairs(SHEN, "val", None)
    bgs = load_backgrounds(args.data_root / "backgrounds")
    print(f"loaded {len(train)} training samples, {len(val)} val, {len(bgs)} backgrounds "
          f"in {time.time() - t0:.1f}s", flush=True)

    aug = PersonAugment(train, bgs, AugmentConfig(size=args.image_size))
    ds = AugmentedPairs(train, aug, args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    loader = DataLoader(ds, batch_size=args.batch_size, shuffle=True, drop_last=True, num_workers=0, generator=gen)

    model = create_model(args.arch, num_classes=2, width=args.width)
    if args.init:
        model.load_state_dict(load(args.init)["model"])
        print(f"initialised from {args.init}", flush=True)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    if args.schedule == "cosine":
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=args.epochs * len(loader),
                                                    pct_start=0.05, anneal_strategy="cos", div_factor=10,
                                                    final_div_factor=100)
    else:
        sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, mode="max", factor=0.5, patience=4)
    args.out.mkdir(parents=True, exist_ok=True)
    start, best = 0, -1.0
    if args.resume and (args.out / "last.pt").exists():
        ck = load(args.out / "last.pt")
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["optimizer"])
        sched.load_state_dict(ck["scheduler"])
        start, best = ck["epoch"] + 1, ck["best"]
        torch.set_rng_state(ck["torch_rng"])
        gen.set_state(ck["loader_rng"])
        print(f"resumed from epoch {start}", flush=True)

    config = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}
    config.update(mean=MEAN, std=STD, classes=["background", "person"],
                  train_samples=len(train), val_ids="flickr-portraits-shen2016 unlisted (cleaned)")
    log_path = args.out / "log.csv"
    new_log = not log_path.exists() or start == 0
    t_start = time.time()
    for epoch in range(start, args.epochs):
        model.train()
        ds.epoch = epoch
        tl, n, te = 0.0, 0, time.time()
        for step, (x, y) in enumerate(loader):
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if args.schedule == "cosine":
                sched.step()
            tl += loss.item() * len(x)
            n += len(x)
            if step % 20 == 0:
                rate = n / (time.time() - te)
                print(f"\repoch {epoch + 1}/{args.epochs} step {step}/{len(loader)} loss {tl / n:.4f} "
                      f"{rate:.1f} img/s", end="", file=sys.stderr, flush=True)
        metrics = evaluate(model, val, args.image_size)
        iou = metrics["per_class_iou"]["person"]
        if args.schedule == "plateau":
            sched.step(iou)
        is_best = iou > best
        best = max(best, iou)
        ck = {"model": model.state_dict(), "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
              "epoch": epoch, "best": best, "config": config, "val": metrics,
              "torch_rng": torch.get_rng_state(), "loader_rng": gen.get_state()}
        save(ck, args.out / "last.pt")
        if is_best:
            save(ck, args.out / "best.pt")
        done = epoch + 1 - start
        eta = (time.time() - t_start) / done * (args.epochs - epoch - 1)
        lr = opt.param_groups[0]["lr"]
        print(f"\repoch {epoch + 1}/{args.epochs} loss {tl / n:.4f} val person IoU {iou:.4f} "
              f"mIoU {metrics['mean_iou']:.4f} lr {lr:.2e} {time.time() - te:.0f}s/epoch ETA {format_duration(eta)}"
              + (" *" if is_best else ""), flush=True)
        with open(log_path, "w" if new_log else "a", newline="") as f:
            w = csv.writer(f)
            if new_log:
                w.writerow(["epoch", "train_loss", "val_person_iou", "val_mean_iou", "val_pixel_accuracy", "lr"])
                new_log = False
            w.writerow([epoch + 1, f"{tl / n:.5f}", f"{iou:.5f}", f"{metrics['mean_iou']:.5f}",
                        f"{metrics['pixel_accuracy']:.5f}", f"{lr:.3e}"])
    (args.out / "metrics.json").write_text(json.dumps({"best_val_person_iou": best, "config": config}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
