"""Binary person data: the person sets under one data root, and MIXES of them for training and evaluation.

Each set is a folder ``<root>/<set>/`` with ``images/``, ``splits/*.txt`` and, when it has ground truth,
``masks/<id>.png`` (0 background, 255 person). Splits come from those files (see each README in ../shared/data):

- flickr-portraits-shen2016: ``train``, ``test``, ``unlisted``, with the README's near-duplicate pairs removed
  across splits (test keeps one image of each pair; train, then unlisted, drop anything in or duplicating an
  earlier split);
- human-segmentation-vikram: ``train``, ``test`` (0270, the duplicate of 0102, is left out);
- people-hd: ``train``, ``val``, ``test``; gesture-mit: ``all`` (every image). Neither has masks;
- any other set: its ``splits/*.txt``, plus ``all``.

A mix lists, per role (train, val, test), entries of ``set``, ``split``, sampling ``weight`` (draws of each image
per epoch, 1 by default) and optionally ``masks``: a folder of teacher masks ``<id>.png`` with 0 = background,
1 = person and 255 = ignore, read as they are (never as 0/255 black and white). Models are chosen on validation,
never on test: a ``test`` split is refused for train and val, and so is any image in two roles.
davis-dance-twirl is refused for train and val: only its dancer is labelled, the people behind her are not.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..io import one_line
from .base import DatasetError, Sample, SegDataset, read_list
from .folder import image_index
from .masks import binary_from_0_255, read_mask_file, single_channel

SHEN = "flickr-portraits-shen2016"
VIKRAM = "human-segmentation-vikram"
PEOPLE_HD = "people-hd"
GESTURE = "gesture-mit"
DAVIS = "davis-dance-twirl"
# Near-duplicate pairs listed in flickr-portraits-shen2016/README.md ("Caveats").
SHEN_DUPLICATES = [("00202", "01167"), ("00203", "01175"), ("00971", "00990"), ("01016", "01023"),
                   ("01179", "01182"), ("02050", "02051"), ("02076", "02359")]
VIKRAM_DUPLICATE = "0270"  # same photo as 0102 (human-segmentation-vikram/README.md)
NEVER_TRAIN = {DAVIS: "only the dancer is labelled, the spectators behind her are not; never train or select on it"}
PERSON_CLASSES = ["background", "person"]
ROLES = ("train", "val", "test")


def _ids(path: Path) -> list[str]:
    if not path.is_file():
        raise DatasetError(f"{path}: no such split file")
    return read_list(path)


def shen_splits(root: Path) -> dict[str, list[str]]:
    """Shen train / unlisted / test ids with near-duplicates removed so no image appears in two splits."""
    root = Path(root)
    train, test, unlisted = (_ids(root / "splits" / f"{s}.txt") for s in ("train", "test", "unlisted"))
    partner = {}
    for a, b in SHEN_DUPLICATES:
        partner[a], partner[b] = b, a
    test_clean: list[str] = []
    for i in test:
        if partner.get(i) not in test_clean:
            test_clean.append(i)
    taken = set(test_clean) | {partner[i] for i in test_clean if i in partner}
    train_clean = [i for i in train if i not in taken]
    taken |= set(train_clean) | {partner[i] for i in train_clean if i in partner}
    return {"train": train_clean, "unlisted": [i for i in unlisted if i not in taken], "test": test_clean}


def vikram_splits(root: Path) -> dict[str, list[str]]:
    """Vikram train / test from its split files, without the duplicate 0270; an id in both is an error."""
    root = Path(root)
    splits = {s: [i for i in _ids(root / "splits" / f"{s}.txt") if i != VIKRAM_DUPLICATE] for s in ("train", "test")}
    both = set(splits["train"]) & set(splits["test"])
    if both:
        raise DatasetError(f"{root / 'splits'}: {len(both)} ids are in both train.txt and test.txt "
                           f"(e.g. {min(both)})")
    return splits


def set_splits(root: Path, name: str) -> dict[str, list[str]]:
    """Split name -> ids of person set ``name`` under the data ``root`` (see the module docstring)."""
    folder = Path(root) / name
    if not (folder / "images").is_dir():
        raise DatasetError(f"{folder}: not a person set (no images/ folder)")
    if name == SHEN:
        return shen_splits(folder)
    if name == VIKRAM:
        return vikram_splits(folder)
    files = sorted((folder / "splits").glob("*.txt")) if (folder / "splits").is_dir() else []
    splits = {p.stem: read_list(p) for p in files}
    if "all" not in splits:  # listed only when no split file names it (setdefault would list it every time)
        splits["all"] = list(image_index(folder / "images"))
    return splits


def person_items(data_root: Path, dataset: str, split: str) -> list[tuple[str, Path, Path]]:
    """(id, image path, ground-truth mask path) for a split of one of the person sets with masks."""
    splits = set_splits(data_root, dataset)
    if split not in splits:
        raise DatasetError(f"{dataset} has no split {split!r} (splits: {', '.join(splits)})")
    folder = Path(data_root) / dataset
    images = image_index(folder / "images")
    out = []
    for i in splits[split]:
        if i not in images:
            raise DatasetError(f"{folder / 'images'}: no image for id {i!r} of split {split!r}")
        out.append((i, images[i], folder / "masks" / f"{i}.png"))
    return out


@dataclass(frozen=True)
class MixEntry:
    """One part of a person mix: a split of a set, its sampling weight, and teacher masks for sets without any."""

    set: str
    split: str
    weight: float = 1.0
    masks: Path | None = None

    @property
    def source(self) -> str:
        """The :attr:`Sample.source` of its samples (weights are per source)."""
        return f"{self.set}/{self.split}"


DEFAULT_MIX: dict[str, list[MixEntry]] = {
    # The person-fast recipe: Vikram's full-body scenes drawn twice per epoch; model selection on Shen unlisted.
    "train": [MixEntry(SHEN, "train"), MixEntry(VIKRAM, "train", 2.0)],
    "val": [MixEntry(SHEN, "unlisted")],
    "test": [MixEntry(SHEN, "test"), MixEntry(VIKRAM, "test")],
}


def join_path(base: Path | str, path: str | Path) -> str:
    """``path`` as given when absolute, else ``base / path`` normalised (``..`` folded; relative stays relative)."""
    p = Path(path).expanduser()
    return str(p if p.is_absolute() else Path(os.path.normpath(Path(base) / p)))


def normalize_mix(spec: Any, base: Path | str = ".", where: str = "person mix") -> dict[str, Any]:
    """A person mix mapping checked, defaults filled and its paths (``root``, ``masks``) joined to ``base``.

    The result is plain JSON data (stored in checkpoints) and normalising it again changes nothing.
    """
    if not isinstance(spec, Mapping):
        raise DatasetError(f"{where}: a person mix is a mapping with root and train/val/test lists")
    unknown = sorted(set(spec) - {"kind", "root", *ROLES})
    if unknown:
        raise DatasetError(f"{where}: unknown keys {unknown} (expected kind, root, train, val, test)")
    if spec.get("kind", "person") != "person":
        raise DatasetError(f"{where}: kind must be person, not {spec.get('kind')!r}")
    if not spec.get("root"):
        raise DatasetError(f"{where}: root (the folder that holds the sets) is required")
    out: dict[str, Any] = {"kind": "person", "root": join_path(base, spec["root"])}
    for role in ROLES:
        entries = spec.get(role) or []
        if not isinstance(entries, list):
            raise DatasetError(f"{where}: {role} must be a list of {{set, split, weight, masks}} entries")
        out[role] = [_entry(e, base, f"{where}: {role}[{i}]") for i, e in enumerate(entries)]
    if not out["train"] and not out["val"] and not out["test"]:
        raise DatasetError(f"{where}: no sets listed under train, val or test")
    return out


def _entry(e: Any, base: Path | str, where: str) -> dict[str, Any]:
    if not isinstance(e, Mapping) or not isinstance(e.get("set"), str) or not isinstance(e.get("split"), str):
        raise DatasetError(f"{where}: expected a mapping with set and split names")
    unknown = sorted(set(e) - {"set", "split", "weight", "masks"})
    if unknown:
        raise DatasetError(f"{where}: unknown keys {unknown} (expected set, split, weight, masks)")
    weight = e.get("weight", 1.0)
    if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not math.isfinite(weight) or weight < 0:
        raise DatasetError(f"{where}: weight must be a number >= 0, got {weight!r}")
    masks = e.get("masks")
    return {"set": e["set"], "split": e["split"], "weight": float(weight),
            "masks": join_path(base, masks) if masks else None}


class PersonDataset(SegDataset):
    """A mix of person sets: splits ``train``/``val``/``test`` are the roles, each the union of its entries.

    Sample ids are ``<set>/<id>``; :meth:`weights` gives each entry's sampling weight. ``notes`` lists what was
    left out (images without a teacher mask).
    """

    kind = "person"

    def __init__(self, root: Path, roles: Mapping[str, list[MixEntry]]) -> None:
        super().__init__(Path(root), list(PERSON_CLASSES), ["person"])
        self.roles = {r: list(roles.get(r, [])) for r in ROLES}
        self.notes: list[str] = []
        self._teacher_dirs = {e.masks for es in self.roles.values() for e in es if e.masks is not None}
        self._ids: dict[MixEntry, list[str]] = {}
        set_cache: dict[str, dict[str, list[str]]] = {}
        for role, entries in self.roles.items():
            seen = set()
            for e in entries:
                if e.set in NEVER_TRAIN and role != "test":
                    raise DatasetError(f"{self.root / e.set}: not usable for {role}: {NEVER_TRAIN[e.set]}")
                if e.split == "test" and role != "test":
                    raise DatasetError(f"{self.root / e.set}: its test split is for the final scores only, not for "
                                       f"{role} (validate on a val or unlisted split)")
                if e.source in seen:
                    raise DatasetError(f"{self.root}: {e.source} is listed twice under {role}")
                seen.add(e.source)
                if e.set not in set_cache:  # a set listed under several roles reads its split files once
                    set_cache[e.set] = set_splits(self.root, e.set)
                splits = set_cache[e.set]
                if e.split not in splits:
                    raise DatasetError(f"{self.root / e.set}: no split {e.split!r} (splits: {', '.join(splits)})")
                self._ids[e] = splits[e.split]
        self._check_leaks()

    @classmethod
    def from_mix(cls, mix: Mapping[str, Any]) -> PersonDataset:
        """The dataset a :func:`normalize_mix` mapping describes."""
        roles = {r: [MixEntry(e["set"], e["split"], e["weight"], Path(e["masks"]) if e["masks"] else None)
                     for e in mix[r]] for r in ROLES}
        return cls(Path(mix["root"]), roles)

    def _check_leaks(self) -> None:
        """No image of a set may be in two roles: validation and test scores must be on unseen photos."""
        for i, a in enumerate(ROLES):
            for b in ROLES[i + 1:]:
                for ea in self.roles[a]:
                    for eb in self.roles[b]:
                        both = set(self._ids[ea]) & set(self._ids[eb]) if ea.set == eb.set else set()
                        if both:
                            raise DatasetError(f"{self.root / ea.set}: {len(both)} images are in both {a} "
                                               f"({ea.split}) and {b} ({eb.split}), e.g. {min(both)}")

    def splits(self) -> list[str]:
        return [r for r in ROLES if self.roles[r]]

    def default_split(self, role: str) -> str:
        if role not in ROLES:
            raise ValueError(f"unknown split role {role!r} (expected train, val or test)")
        if not self.roles[role]:
            raise DatasetError(f"{self.root}: this person mix lists no {role} sets")
        return role

    def weights(self, split: str) -> dict[str, float]:
        return {e.source: e.weight for e in self.roles.get(split, [])}

    def samples(self, split: str) -> list[Sample]:
        if split not in self.splits():
            raise DatasetError(f"{self.root}: unknown split {split!r} (available: {', '.join(self.splits())})")
        out: list[Sample] = []
        for e in self.roles[split]:
            out += self._entry_samples(e)
        return out

    def _entry_samples(self, e: MixEntry) -> list[Sample]:
        folder = self.root / e.set
        masks = e.masks if e.masks is not None else folder / "masks"
        if not masks.is_dir():
            hint = "no such folder of teacher masks" if e.masks is not None else (
                "this set has no masks; give a folder of teacher masks (masks: DIR) for it")
            raise DatasetError(f"{masks}: {hint}")
        images = image_index(folder / "images")
        out, missing, unlabelled = [], [], 0
        for sid in self._ids[e]:
            image, mask = images.get(sid), masks / f"{sid}.png"
            if image is None:
                missing.append(f"{folder / 'images' / sid}.*: no image for id {sid!r} of split {e.split!r}")
            elif not mask.is_file():
                if e.masks is not None:
                    unlabelled += 1  # the teacher left it out (e.g. nobody it could label)
                else:
                    missing.append(f"{mask}: no mask for image {image}")
            else:
                out.append(Sample(f"{e.set}/{sid}", image, mask, e.source))
        if missing:
            more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
            raise DatasetError(missing[0] + more)
        if not out:
            raise DatasetError(f"{masks}: no masks for any image of {e.source}")
        if unlabelled:
            note = f"{e.source}: {unlabelled} of {len(self._ids[e])} images have no teacher mask in {masks} (left out)"
            if note not in self.notes:
                self.notes.append(note)
        return out

    def _read_mask(self, path: Path) -> np.ndarray:
        mask = single_channel(read_mask_file(path), path)
        if path.parent in self._teacher_dirs:
            return mask  # 0 / 1 / 255 = ignore, as written; load() refuses any other value
        return binary_from_0_255(mask)


def open_person(path: Path) -> PersonDataset:
    """``person:DIR`` (the default mix of the sets in DIR) or ``person:MIX.yaml`` (paths relative to the file)."""
    if path.is_dir():
        roles = {r: list(es) for r, es in DEFAULT_MIX.items()}
        return PersonDataset(path, roles)
    try:
        import yaml
    except ImportError:
        raise DatasetError(f"{path}: reading a person mix file needs pyyaml (pip install pyyaml)") from None
    try:
        spec = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as e:
        raise DatasetError(f"{path}: cannot read the person mix ({one_line(e)})") from None
    return PersonDataset.from_mix(normalize_mix(spec, path.parent, str(path)))
