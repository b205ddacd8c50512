"""The person kind: splits read from the set folders, Shen's duplicates, mixes with weights and teacher masks."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import SHARED_DATA

from segblur.data import (
    DAVIS,
    GESTURE,
    PEOPLE_HD,
    SHEN,
    SHEN_DUPLICATES,
    VIKRAM,
    DatasetError,
    PersonDataset,
    normalize_mix,
    open_dataset,
    person_items,
    resolve_spec,
    set_splits,
    shen_splits,
    vikram_splits,
)


def write_ids(path: Path, ids: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(ids) + "\n\n")


def add_set(root: Path, name: str, ids: list[str], splits: dict[str, list[str]] | None = None,
            masks: bool = True, size: tuple[int, int] = (12, 16)) -> Path:
    """A person set: images/<id>.jpg, masks/<id>.png (0/255, left half person) when ``masks``, splits/*.txt."""
    folder = root / name
    (folder / "images").mkdir(parents=True)
    h, w = size
    for i in ids:
        cv2.imwrite(str(folder / "images" / f"{i}.jpg"), np.full((h, w, 3), 90, np.uint8))
        if masks:
            (folder / "masks").mkdir(exist_ok=True)
            m = np.zeros((h, w), np.uint8)
            m[:, : w // 2] = 255
            cv2.imwrite(str(folder / "masks" / f"{i}.png"), m)
    for split, listed in (splits or {}).items():
        write_ids(folder / "splits" / f"{split}.txt", listed)
    return folder


@pytest.fixture
def data(tmp_path: Path) -> Path:
    """A data root with tiny Shen, Vikram, people-hd (no masks), gesture-mit (no masks, no splits) and DAVIS."""
    root = tmp_path / "data"
    add_set(root, SHEN, ["s1", "s2", "s3", "s4", "s5"], {"train": ["s1", "s2", "s3"], "test": ["s4"],
                                                         "unlisted": ["s5"]})
    add_set(root, VIKRAM, ["v1", "v2", "v3", "0270"], {"train": ["v1", "v2"], "test": ["v3"]})
    add_set(root, PEOPLE_HD, ["h1", "h2", "h3", "h4"], {"train": ["h1", "h2", "h3"], "val": ["h4"], "test": []},
            masks=False)
    add_set(root, GESTURE, ["g1", "g2"], masks=False)
    add_set(root, DAVIS, ["d1"])
    return root


def teacher(folder: Path, values: dict[str, np.ndarray]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for sid, mask in values.items():
        assert cv2.imwrite(str(folder / f"{sid}.png"), mask)
    return folder


# --------------------------------------------------------------------------------------------- set splits

def test_shen_duplicates_are_pairs_of_ids() -> None:
    assert SHEN_DUPLICATES and all(len(p) == 2 and p[0] != p[1] for p in SHEN_DUPLICATES)
    flat = [i for p in SHEN_DUPLICATES for i in p]
    assert len(flat) == len(set(flat))


def test_shen_splits_remove_duplicate_leakage(tmp_path: Path) -> None:
    (a1, a2), (b1, b2), (c1, c2) = SHEN_DUPLICATES[:3]
    # test holds both halves of pair a, and b1; train holds b2 (leak), c1, and a1 (same id as test);
    # unlisted holds c2 (duplicate of a train image), a2 (test), a plain id and a train id.
    write_ids(tmp_path / "splits" / "test.txt", [a1, a2, b1, "90001"])
    write_ids(tmp_path / "splits" / "train.txt", [b2, c1, "90002", a1])
    write_ids(tmp_path / "splits" / "unlisted.txt", [c2, a2, "90003", "90002"])
    s = shen_splits(tmp_path)
    assert s["test"] == [a1, b1, "90001"]  # the authors' test list, one of each duplicate pair
    assert s["train"] == [c1, "90002"]  # minus anything that is (a duplicate of) a test image
    assert s["unlisted"] == ["90003"]  # unlisted minus anything in, or duplicating, train or test
    partner = {x: y for p in SHEN_DUPLICATES for x, y in (p, p[::-1])}
    seen: dict[str, str] = {}
    for split, ids in s.items():
        for i in ids:
            for key in (i, partner.get(i)):
                if key is not None:
                    assert seen.setdefault(key, split) == split, f"{i} leaks between {seen[key]} and {split}"


def test_shen_splits_without_duplicates_are_the_files(tmp_path: Path) -> None:
    write_ids(tmp_path / "splits" / "test.txt", ["1", "2"])
    write_ids(tmp_path / "splits" / "train.txt", ["3", "4"])
    write_ids(tmp_path / "splits" / "unlisted.txt", ["5"])
    assert shen_splits(tmp_path) == {"train": ["3", "4"], "unlisted": ["5"], "test": ["1", "2"]}
    (tmp_path / "splits" / "unlisted.txt").unlink()
    with pytest.raises(DatasetError, match=r"unlisted\.txt: no such split file"):
        shen_splits(tmp_path)


def test_vikram_splits_come_from_its_files_without_the_duplicate(tmp_path: Path) -> None:
    write_ids(tmp_path / "splits" / "train.txt", ["0001", "0270", "0003"])
    write_ids(tmp_path / "splits" / "test.txt", ["0002"])
    assert vikram_splits(tmp_path) == {"train": ["0001", "0003"], "test": ["0002"]}
    write_ids(tmp_path / "splits" / "test.txt", ["0002", "0003"])
    with pytest.raises(DatasetError, match=r"1 ids are in both train\.txt and test\.txt \(e\.g\. 0003\)"):
        vikram_splits(tmp_path)


def test_other_sets_have_their_split_files_and_all(data: Path) -> None:
    hd = set_splits(data, PEOPLE_HD)
    assert hd == {"train": ["h1", "h2", "h3"], "val": ["h4"], "test": [], "all": ["h1", "h2", "h3", "h4"]}
    assert set_splits(data, GESTURE) == {"all": ["g1", "g2"]}
    with pytest.raises(DatasetError, match="nope: not a person set"):
        set_splits(data, "nope")


def test_person_items_lists_ground_truth_pairs(data: Path) -> None:
    items = person_items(data, VIKRAM, "train")
    assert [i for i, _, _ in items] == ["v1", "v2"]
    assert all(img.is_file() and mask.is_file() for _, img, mask in items)
    with pytest.raises(DatasetError, match="no split 'holdout'"):
        person_items(data, SHEN, "holdout")


# --------------------------------------------------------------------------------------------- mixes

def test_default_mix_is_the_person_fast_recipe(data: Path) -> None:
    ds = open_dataset(f"person:{data}")
    assert isinstance(ds, PersonDataset) and ds.kind == "person"
    assert ds.classes == ["background", "person"] and ds.foreground == ["person"]
    assert ds.splits() == ["train", "val", "test"]
    assert [ds.default_split(r) for r in ("train", "val", "test")] == ["train", "val", "test"]
    train = ds.samples("train")
    assert [s.id for s in train] == [f"{SHEN}/s1", f"{SHEN}/s2", f"{SHEN}/s3", f"{VIKRAM}/v1", f"{VIKRAM}/v2"]
    assert {s.source for s in train} == {f"{SHEN}/train", f"{VIKRAM}/train"}
    assert ds.weights("train") == {f"{SHEN}/train": 1.0, f"{VIKRAM}/train": 2.0}
    assert [s.id for s in ds.samples("val")] == [f"{SHEN}/s5"]
    assert [s.id for s in ds.samples("test")] == [f"{SHEN}/s4", f"{VIKRAM}/v3"]
    image, mask = ds.load(train[0])
    assert image.shape == (12, 16, 3) and mask.dtype == np.uint8
    assert (mask[:, :8] == 1).all() and (mask[:, 8:] == 0).all()  # ground truth 0/255 read as 0/1


def test_teacher_masks_are_read_as_written_with_ignore(data: Path, tmp_path: Path) -> None:
    labelled = np.zeros((12, 16), np.uint8)
    labelled[:, :5], labelled[:, 5:9] = 1, 255  # person, then an uncertain band
    only_ignore = np.zeros((12, 16), np.uint8)
    only_ignore[3:6] = 255  # 0/255 like a black-and-white mask, but 255 is "ignore" here, never "person"
    masks = teacher(tmp_path / "labels" / PEOPLE_HD / "masks", {"h1": labelled, "h2": only_ignore})
    mix = {"root": str(data), "train": [{"set": PEOPLE_HD, "split": "train", "masks": str(masks)}]}
    ds = open_dataset(mix)
    samples = ds.samples("train")
    assert [s.id for s in samples] == [f"{PEOPLE_HD}/h1", f"{PEOPLE_HD}/h2"]  # h3 has no teacher mask
    assert ds.notes == [f"{PEOPLE_HD}/train: 1 of 3 images have no teacher mask in {masks} (left out)"]
    np.testing.assert_array_equal(ds.load(samples[0])[1], labelled)
    np.testing.assert_array_equal(ds.load(samples[1])[1], only_ignore)
    bad = labelled.copy()
    bad[0, 0] = 2
    teacher(masks, {"h1": bad})
    with pytest.raises(DatasetError, match=r"h1\.png: mask values 2 outside the 2 classes"):
        ds.load(samples[0])


def test_sets_without_masks_need_teacher_masks(data: Path, tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=rf"{PEOPLE_HD}/masks: this set has no masks; give a folder of teacher"):
        open_dataset({"root": str(data), "train": [{"set": PEOPLE_HD, "split": "train"}]}).samples("train")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DatasetError, match=r"empty: no masks for any image of gesture-mit/all"):
        open_dataset({"root": str(data), "train": [{"set": GESTURE, "split": "all", "masks": str(empty)}]}
                     ).samples("train")
    with pytest.raises(DatasetError, match="nowhere: no such folder of teacher masks"):
        nowhere = {"set": GESTURE, "split": "all", "masks": str(tmp_path / "nowhere")}
        open_dataset({"root": str(data), "train": [nowhere]}).samples("train")


@pytest.mark.parametrize("role", ["train", "val"])
def test_davis_is_never_trained_or_selected_on(data: Path, role: str) -> None:
    with pytest.raises(DatasetError, match=rf"{DAVIS}: not usable for {role}: only the dancer is labelled"):
        open_dataset({"root": str(data), role: [{"set": DAVIS, "split": "all"}]})
    assert open_dataset({"root": str(data), "test": [{"set": DAVIS, "split": "all"}]}).splits() == ["test"]


@pytest.mark.parametrize("role", ["train", "val"])
def test_test_splits_are_never_trained_or_selected_on(data: Path, role: str) -> None:
    with pytest.raises(DatasetError, match=rf"{VIKRAM}: its test split is for the final scores only, not for {role}"):
        open_dataset({"root": str(data), role: [{"set": VIKRAM, "split": "test"}]})


def test_no_image_may_be_in_two_roles(data: Path) -> None:
    with pytest.raises(DatasetError, match=rf"{PEOPLE_HD}: 3 images are in both train \(train\) and test \(all\)"):
        open_dataset({"root": str(data), "train": [{"set": PEOPLE_HD, "split": "train"}],
                      "test": [{"set": GESTURE, "split": "all"}, {"set": PEOPLE_HD, "split": "all"}]})
    with pytest.raises(DatasetError, match=rf"{VIKRAM}/train is listed twice under train"):
        open_dataset({"root": str(data), "train": [{"set": VIKRAM, "split": "train"}] * 2})


def test_mix_errors_are_one_line(data: Path) -> None:
    cases = [
        ({"train": []}, "root .* is required"),
        ({"root": str(data)}, "no sets listed"),
        ({"root": str(data), "train": {"set": SHEN}}, "train must be a list"),
        ({"root": str(data), "train": [{"set": SHEN}]}, r"train\[0\]: expected a mapping with set and split"),
        ({"root": str(data), "train": [{"set": SHEN, "split": "train", "weight": -1}]}, "weight must be a number"),
        ({"root": str(data), "train": [{"set": SHEN, "split": "train", "wieght": 2}]}, r"unknown keys \['wieght'\]"),
        ({"root": str(data), "tain": []}, r"unknown keys \['tain'\]"),
        ({"root": str(data), "train": [{"set": SHEN, "split": "val"}]}, "no split 'val' .*splits: train, unlisted"),
        ({"root": str(data), "kind": "voc", "train": []}, "kind must be person"),
    ]
    for spec, message in cases:
        with pytest.raises(DatasetError, match=message) as err:
            open_dataset(spec)
        assert "\n" not in str(err.value)


def test_mix_paths_are_relative_to_its_file(data: Path, tmp_path: Path) -> None:
    masks = teacher(tmp_path / "labels" / "gm", {"g2": np.ones((12, 16), np.uint8)})
    mixes = tmp_path / "mixes"
    mixes.mkdir()
    (mixes / "mix.yaml").write_text(f"root: ../data\ntrain:\n  - {{set: {GESTURE}, split: all, weight: 0.5, "
                                    f"masks: ../labels/gm}}\n  - {{set: {SHEN}, split: train}}\n")
    ds = open_dataset(f"person:{mixes / 'mix.yaml'}")
    assert ds.root == data
    assert [s.mask for s in ds.samples("train")][:1] == [masks / "g2.png"]
    assert ds.weights("train") == {f"{GESTURE}/all": 0.5, f"{SHEN}/train": 1.0}
    (mixes / "bad.yaml").write_text("root: [unclosed\n")
    with pytest.raises(DatasetError, match=r"bad\.yaml: cannot read the person mix"):
        open_dataset(f"person:{mixes / 'bad.yaml'}")


def test_normalize_mix_joins_paths_once(tmp_path: Path) -> None:
    spec = {"root": "../data", "train": [{"set": GESTURE, "split": "all", "masks": "labels/gm", "weight": 2}]}
    once = normalize_mix(spec, "recipes")
    assert once == {"kind": "person", "root": "data", "val": [], "test": [],
                    "train": [{"set": GESTURE, "split": "all", "weight": 2.0, "masks": "recipes/labels/gm"}]}
    assert normalize_mix(once, ".") == once
    assert normalize_mix({**spec, "root": str(tmp_path)}, "recipes")["root"] == str(tmp_path)  # absolute: as is


def test_resolve_spec_takes_relative_paths_from_a_folder() -> None:
    assert resolve_spec("lfw:../../shared/data/lfw-parts", "recipes") == "lfw:../shared/data/lfw-parts"
    assert resolve_spec("voc:/abs/VOCdevkit", "recipes") == "voc:/abs/VOCdevkit"
    assert resolve_spec("nonsense", "recipes") == "nonsense"  # open_dataset reports it
    assert resolve_spec({"root": "d", "val": [{"set": SHEN, "split": "unlisted"}]}, "r")["root"] == "r/d"


# --------------------------------------------------------------------------------------------- the real folders

@pytest.mark.integration
def test_shared_person_sets() -> None:
    if not (SHARED_DATA / SHEN).is_dir() or not (SHARED_DATA / PEOPLE_HD).is_dir():
        pytest.skip(f"{SHARED_DATA} not present")
    shen = set_splits(SHARED_DATA, SHEN)
    assert {k: len(v) for k, v in shen.items()} == {"train": 1286, "unlisted": 51, "test": 263}
    vikram = set_splits(SHARED_DATA, VIKRAM)
    # The files hold the split used before they existed: ids sorted, 0270 left out, every 7th is test.
    ids = sorted(p.stem for p in (SHARED_DATA / VIKRAM / "masks").glob("*.png") if p.stem != "0270")
    assert vikram == {"train": [i for i in ids if i not in ids[::7]], "test": ids[::7]}
    assert {k: len(v) for k, v in set_splits(SHARED_DATA, PEOPLE_HD).items()} == {
        "train": 1265, "val": 158, "test": 158, "all": 1581}
    assert len(set_splits(SHARED_DATA, GESTURE)["all"]) == 440
    ds = open_dataset(f"person:{SHARED_DATA}")
    assert [len(ds.samples(s)) for s in ds.splits()] == [1286 + 247, 51, 263 + 42]
