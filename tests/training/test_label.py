"""Teacher labels (segblur.training.label and .teachers) with tiny generated teachers: no torch, no real models.

A fake teacher sees red as person: its probability is the input's red channel (0..1)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import REPO, FakeInterpreter, assert_one_line_naming, build_model

from segblur.data import read_png_indices
from segblur.media.images import write_image
from segblur.training.label import (
    IGNORE,
    LabelError,
    LabelSettings,
    auto_boxes,
    choose_teacher,
    label_image,
    read_boxes,
)
from segblur.training.label_set import LabelsExistError, write_labels
from segblur.training.teachers import (
    Teacher,
    TeacherError,
    guess_kind,
    onnx_teacher,
    open_teacher,
    region_transform,
    run_region,
    tflite_teacher,
    turn_boxes,
)

RED, GREEN = (255, 0, 0), (0, 160, 0)


def red_teacher(name: str = "selfie", kind: str = "selfie", fit: str = "stretch", size: int = 32,
                extras=None, seen: list | None = None) -> Teacher:
    """Person probability = red channel; ``extras(x)`` gives its scores; ``seen`` collects its inputs."""

    def run(x: np.ndarray):
        if seen is not None:
            seen.append(x.copy())
        return x[..., 0].astype(np.float32) / 255.0, extras(x) if extras else {}

    return Teacher(name, kind, fit, (size, size), run)


def scene(h: int = 120, w: int = 160, people=((20, 30, 50, 110),)) -> np.ndarray:
    """Green background with red rectangles (x0, y0, x1, y1): the people."""
    img = np.zeros((h, w, 3), np.uint8)
    img[:] = GREEN
    for x0, y0, x1, y1 in people:
        img[y0:y1, x0:x1] = RED
    return img


# ------------------------------------------------------------------------------------------ crop geometry


def test_stretch_of_the_whole_image_is_a_plain_resize() -> None:
    img = np.random.default_rng(1).integers(0, 256, (48, 64, 3), np.uint8)
    m = region_transform((0, 0, 64, 48), "stretch", (32, 32))
    warped = cv2.warpAffine(img, m, (32, 32), flags=cv2.INTER_LINEAR)
    assert np.abs(warped.astype(int) - cv2.resize(img, (32, 32), interpolation=cv2.INTER_LINEAR)).max() <= 1


def test_rotation_turns_the_region_clockwise() -> None:
    img = np.zeros((40, 40), np.uint8)
    img[2:8, 17:23] = 255  # a mark at the top
    warped = cv2.warpAffine(img, region_transform((0, 0, 40, 40), "square", (40, 40), rotation=90), (40, 40))
    ys, xs = np.nonzero(warped)
    assert xs.mean() > 30 and abs(ys.mean() - 19.5) < 2  # now at the right


def test_square_fit_pads_and_the_result_maps_back_onto_the_covered_pixels() -> None:
    seen: list = []
    t = red_teacher(fit="square", size=20, seen=seen)
    img = scene(20, 40, people=((0, 0, 20, 20),))  # left half red
    res = run_region(t, img, (0, 0, 40, 20))
    assert seen[0][:4].max() == 0 and seen[0][-4:].max() == 0  # padded above and below
    prob, cov = res.full((20, 40))
    assert cov.all()
    assert prob[1:-1, :18].min() > 0.9 and prob[:, 22:].max() < 0.1  # (the edge rows blend with the padding)
    crop = run_region(t, img, (10, 5, 20, 15))  # a small crop: covers only its window
    prob, cov = crop.full((20, 40))
    assert cov[5:15, 10:20].all() and not cov[:, 25:].any() and not cov[:2].any()
    assert prob[~cov].max() == 0


# ------------------------------------------------------------------------------------------------ boxes


def test_read_boxes_parses_clips_and_names_bad_lines(tmp_path: Path) -> None:
    f = tmp_path / "a.txt"
    f.write_text("# people\n1 2 30 40\n\n-5 10 500 20.5  # clipped\n")
    np.testing.assert_allclose(read_boxes(f, (100, 50)), [[1, 2, 30, 40], [0, 10, 100, 20.5]])
    f.write_text("1 2 30\n")
    with pytest.raises(LabelError) as e:
        read_boxes(f)
    assert_one_line_naming(str(e.value), f)
    assert "line 1" in str(e.value)
    f.write_text("1 2 3 4\n10 10 5 20\n")
    with pytest.raises(LabelError, match="line 2: empty box"):
        read_boxes(f)
    f.write_text("1 2 3 4\n500 500 600 600\n")
    with pytest.raises(LabelError) as e:
        read_boxes(f, (160, 120))
    assert_one_line_naming(str(e.value), f)
    assert "line 2: box '500 500 600 600' lies outside the image (160x120)" in str(e.value)
    with pytest.raises(LabelError, match="no such boxes file"):
        read_boxes(tmp_path / "none.txt")


# --------------------------------------------------------------------------------------------- labelling


def test_boxed_person_is_labelled_and_unboxed_person_ignored() -> None:
    img = scene(people=((20, 30, 50, 110), (110, 30, 140, 110)))
    out = label_image(img, np.array([[20, 30, 50, 110]], np.float32), [red_teacher()])
    m = out.mask
    assert (m[35:105, 25:45] == 1).all()  # the boxed person
    assert (m[35:105, 115:135] == IGNORE).all()  # an unboxed person is not background
    assert (m[:, 60:100] == 0).all() and (m[:20] == 0).all()  # background, in and out of the crop
    assert out.boxes[0]["teacher"] == "selfie" and not out.auto_boxes
    assert set(np.unique(m)) <= {0, 1, IGNORE}


def test_a_given_box_in_which_the_teacher_finds_nobody_is_ignored_not_background() -> None:
    """A person box says someone is there: a teacher that sees nobody in it must not teach "background" there."""
    img = scene(people=((20, 30, 50, 110),))
    boxes = np.array([[20, 30, 50, 110], [100, 20, 130, 100]], np.float32)  # the second: nobody red in it
    out = label_image(img, boxes, [red_teacher()])
    assert (out.mask[20:100, 100:130] == IGNORE).all() and out.boxes[1]["nobody"]
    assert (out.mask[35:105, 25:45] == 1).all() and "nobody" not in out.boxes[0]
    assert (out.mask[:, 60:95] == 0).all() and (out.mask[105:, 100:130] == 0).all()  # around it: background
    blind = Teacher("selfie", "selfie", "stretch", (32, 32), lambda x: (np.zeros(x.shape[:2], np.float32), {}))
    out = label_image(img, boxes, [blind])
    assert (out.mask[30:110, 20:50] == IGNORE).all() and (out.mask[20:100, 100:130] == IGNORE).all()
    assert (out.mask[:, 60:95] == 0).all()


def test_small_boxes_and_uncertain_pixels_are_ignored() -> None:
    img = scene(people=((20, 30, 50, 110), (120, 100, 126, 110), (70, 40, 100, 100)))
    img[40:100, 70:100] = (128, 0, 0)  # red 0.5: the teacher is unsure there
    boxes = np.array([[20, 30, 50, 110], [120, 100, 126, 110], [70, 40, 100, 100]], np.float32)
    out = label_image(img, boxes, [red_teacher()], LabelSettings(low=0.3, high=0.7, min_box=20))
    assert (out.mask[100:110, 120:126] == IGNORE).all() and out.boxes[1]["skipped"] == "small"
    assert (out.mask[42:98, 72:98] == IGNORE).all()
    assert (out.mask[35:105, 25:45] == 1).all()


def test_tall_boxes_whose_legs_are_seen_go_to_the_full_body_teacher_and_the_other_vetoes() -> None:
    pose = red_teacher("pose", "pose", "square", extras=lambda x: {"presence": 1.0, "legs": 0.9})
    selfie = Teacher("selfie", "selfie", "stretch", (32, 32), lambda x: (np.full(x.shape[:2], 0.9, np.float32), {}))
    teachers = [pose, selfie]
    img = scene()
    tall = np.array([[20, 30, 50, 110]], np.float32)
    out = label_image(img, tall, teachers)
    assert out.boxes[0]["teacher"] == "pose"
    assert (out.mask[35:105, 25:45] == 1).all()
    # Background in the crop: pose says background, selfie says person -> unsure, not background.
    assert (out.mask[35:105, 52:56] == IGNORE).all()
    wide = np.array([[20, 30, 110, 110]], np.float32)
    assert label_image(img, wide, teachers).boxes[0]["teacher"] == "selfie"
    s = LabelSettings()
    results = {"pose": run_region(pose, img, (0, 0, 160, 120))}
    results["pose"].extras["legs"] = 0.1  # legs not seen: a close-up
    assert choose_teacher(tall[0], 0, results, teachers, s).name == "selfie"


def lying_scene() -> np.ndarray:
    """A person lying with the head (blue mark) at the right."""
    img = scene(people=((20, 40, 100, 70),))
    img[45:65, 90:100] = (255, 0, 255)
    return img


def head_up(x: np.ndarray) -> dict[str, float]:
    """Fake pose scores: a person stands in the input when the head mark is in its top third."""
    ys = np.nonzero(x[..., 2] > 128)[0]
    up = float(ys.size > 0 and ys.mean() < x.shape[0] / 3)
    return {"presence": up, "upright": 0.3 * up, "legs": 1.0}


def test_a_photo_turned_sideways_is_labelled_upright_and_turned_back() -> None:
    pose = red_teacher("pose", "pose", "square", extras=head_up)
    out = label_image(lying_scene(), np.array([[20, 40, 100, 70]], np.float32), [pose], LabelSettings(min_box=10))
    assert out.rotation == 270  # turned clockwise by 270 degrees, the head is at the top
    assert out.mask.shape == (120, 160) and (out.mask[42:68, 25:95] == 1).all()
    assert out.stats()["rotation"] == 270
    upright = label_image(scene(), np.array([[20, 30, 50, 110]], np.float32), [pose])
    assert upright.rotation == 0 and upright.boxes[0]["rotation"] == 0  # tall boxes: not turned


def test_one_lying_person_among_standing_ones_is_turned_in_its_crop() -> None:
    pose = red_teacher("pose", "pose", "square", extras=head_up)
    img = lying_scene()
    img[10:110, 120:150] = RED  # a tall standing person with a larger box: the photo is upright
    img[12:20, 130:140] = (255, 0, 255)
    boxes = np.array([[20, 40, 100, 70], [120, 10, 150, 110]], np.float32)
    out = label_image(img, boxes, [pose], LabelSettings(min_box=10))
    assert out.rotation == 0 and [b["rotation"] for b in out.boxes] == [270, 0]


def test_turn_boxes_follows_np_rot90() -> None:
    img = np.zeros((30, 50), np.uint8)
    img[5:10, 20:40] = 1
    box = np.array([[20, 5, 40, 10]], np.float32)
    for rotation in (90, 180, 270):
        turned = np.rot90(img, -rotation // 90)
        ys, xs = np.nonzero(turned)
        x0, y0, x1, y1 = turn_boxes(box, (50, 30), rotation)[0]
        assert (x0, y0, x1, y1) == (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)


def test_without_boxes_the_teachers_find_the_people() -> None:
    img = scene(people=((20, 30, 50, 110), (110, 30, 140, 110)))
    t = red_teacher()
    out = label_image(img, None, [t])
    assert out.auto_boxes and len(out.boxes) == 2
    assert (out.mask[35:105, 25:45] == 1).all() and (out.mask[35:105, 115:135] == 1).all()
    assert (out.mask[:, 60:100] == 0).all()
    whole = [run_region(t, img, (0, 0, 160, 120))]
    found = auto_boxes(whole, (120, 160), LabelSettings())  # (the teacher's 32x32 view blurs the edges)
    np.testing.assert_allclose(found, [[20, 30, 50, 110], [110, 30, 140, 110]], atol=2)


def test_small_people_outside_boxes_are_looked_for_in_tiles() -> None:
    from segblur.training.label import _tiles

    pose = red_teacher("pose", "pose", "square")
    tiles = _tiles(scene(), [pose, red_teacher()], LabelSettings(tiles=2))
    assert len(tiles) == 4 and all(t.teacher == "selfie" for t in tiles)  # close-up teachers only
    covered = np.zeros((120, 160), int)
    for t in tiles:
        covered += t.full((120, 160))[1]
    assert covered.min() >= 1 and covered.max() == 4  # the grid covers the photo and overlaps in the middle
    assert _tiles(scene(), [red_teacher()], LabelSettings(tiles=1)) == []


def test_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="low <= high"):
        LabelSettings(low=0.8, high=0.2)
    with pytest.raises(ValueError, match="margin"):
        LabelSettings(margin=-1)
    with pytest.raises(LabelError, match="no teacher"):
        label_image(scene(), None, [])


# ------------------------------------------------------------------------------------------------ teachers


def test_pose_teacher_reads_the_mask_logits_presence_and_leg_visibility() -> None:
    vis = np.zeros((39, 5), np.float32)
    vis[25:29, 3] = [3.0, 2.0, 4.0, 0.0]  # knees and ankles; the least visible has logit 0 -> 0.5
    vis[11:13, 1], vis[23:25, 1] = 4.0, 12.0  # shoulders at y 4, hips at y 12 of 16: upright 0.5
    fake = FakeInterpreter({"Identity": lambda x: vis.reshape(1, -1), "Identity_1": lambda x: np.full((1, 1), 0.8),
                            "Identity_2": lambda x: (x[..., :1] - 0.5) * 20,  # logits: red -> person
                            "Identity_3": lambda x: np.zeros((1, 4))}, size=(16, 16))
    t = tflite_teacher("pose_landmark_heavy.tflite", "pose", interpreter=fake)
    assert (t.kind, t.fit, t.input_size) == ("pose", "square", (16, 16))
    x = np.zeros((16, 16, 3), np.uint8)
    x[:, :8, 0] = 255
    prob, extras = t.run(x)
    assert prob[:, :8].min() > 0.99 and prob[:, 8:].max() < 0.01
    assert extras == pytest.approx({"presence": 0.8, "legs": 0.5, "upright": 0.5})


def test_selfie_teacher_uses_the_first_output_as_probability() -> None:
    fake = FakeInterpreter({"activation_10": lambda x: x[..., :1]}, size=(8, 8))
    t = tflite_teacher("selfie.tflite", "selfie", interpreter=fake)
    assert t.fit == "stretch"
    prob, extras = t.run(np.full((8, 8, 3), 255, np.uint8))
    assert prob.shape == (8, 8) and prob.min() == pytest.approx(1.0) and extras == {}


def test_a_pose_file_without_the_mask_output_is_refused() -> None:
    fake = FakeInterpreter({"out": lambda x: x[..., :1]})
    with pytest.raises(TeacherError) as e:
        tflite_teacher("odd.tflite", "pose", interpreter=fake)
    assert_one_line_naming(str(e.value), "odd.tflite")
    assert "Identity_2" in str(e.value)


def test_onnx_teacher_runs_a_segblur_model(tmp_path: Path) -> None:
    t = onnx_teacher(build_model(tmp_path / "tiny.onnx"))
    assert (t.kind, t.fit, t.input_size) == ("onnx", "stretch", (32, 32))
    prob, _ = t.run(cv2.resize(scene(), (32, 32), interpolation=cv2.INTER_NEAREST))
    assert prob.shape == (32, 32) and prob[16, 7] > 0.9 and prob[2, 20] < 0.1
    assert open_teacher(f"onnx={tmp_path / 'tiny.onnx'}").kind == "onnx"


def test_teacher_specs() -> None:
    assert guess_kind("a/pose_landmark_heavy.tflite") == "pose"
    assert guess_kind("selfie_segmentation.tflite") == "selfie"
    assert guess_kind("person-fast") == "onnx"
    with pytest.raises(TeacherError, match="KIND=MODEL"):
        open_teacher("face=model.tflite")
    with pytest.raises(TeacherError) as e:
        open_teacher("onnx=/no/such/model.onnx")
    assert "/no/such/model.onnx" in str(e.value)


# ---------------------------------------------------------------------------------------- a folder of photos


def make_photos(folder: Path, n: int = 3) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        p = folder / f"p{i}.png"
        write_image(p, scene(people=((20 + 10 * i, 30, 50 + 10 * i, 110),)))
        paths.append(p)
    return paths


def test_write_labels_writes_masks_and_labels_json(tmp_path: Path) -> None:
    photos = make_photos(tmp_path / "img")
    boxes = tmp_path / "boxes"
    boxes.mkdir()
    for i in range(3):
        (boxes / f"p{i}.txt").write_text(f"{20 + 10 * i} 30 {50 + 10 * i} 110\n")
    summary = write_labels(photos, tmp_path / "out", [red_teacher()], boxes=boxes)
    assert summary["images"] == 3 and summary["failed"] == 0
    mask = read_png_indices(tmp_path / "out" / "masks" / "p1.png")
    assert mask.shape == (120, 160) and (mask[35:105, 35:55] == 1).all()
    doc = json.loads((tmp_path / "out" / "labels.json").read_text())
    assert doc["complete"] and doc["teachers"][0]["name"] == "selfie" and doc["boxes"] == str(boxes)
    assert doc["settings"]["margin"] == LabelSettings().margin
    assert doc["images"]["p1"]["person"] == pytest.approx(30 * 80 / (120 * 160), abs=0.01)
    assert doc["images"]["p1"]["boxes"][0]["teacher"] == "selfie"


def test_existing_labels_are_refused_skipped_or_overwritten(tmp_path: Path) -> None:
    photos = make_photos(tmp_path / "img")
    out = tmp_path / "out"
    write_labels(photos[:2], out, [red_teacher()])
    with pytest.raises(LabelsExistError, match="2 of these masks"):
        write_labels(photos, out, [red_teacher()])
    seen: list = []
    summary = write_labels(photos, out, [red_teacher(seen=seen)], existing="skip")
    assert summary["skipped"] == 2 and summary["images"] == 3 and len(seen) > 0
    with pytest.raises(LabelError, match="other teachers, settings"):
        write_labels(photos, out, [red_teacher()], LabelSettings(margin=0.3), existing="skip")
    (out / "masks" / "p0.png").write_bytes(b"")
    summary = write_labels(photos, out, [red_teacher()], existing="overwrite")
    assert summary["skipped"] == 0 and read_png_indices(out / "masks" / "p0.png").shape == (120, 160)


def test_overwrite_keeps_labels_of_the_same_kind_and_replaces_another_kind_whole(tmp_path: Path) -> None:
    """--overwrite of some images: with the same teachers and settings the other masks stay (listed); with other
    settings the old set is removed, so OUT never mixes two kinds of labels (what --skip-existing refuses)."""
    photos = make_photos(tmp_path / "img")
    out = tmp_path / "out"

    def state() -> tuple[list[str], dict]:
        return sorted(p.name for p in (out / "masks").glob("*.png")), json.loads((out / "labels.json").read_text())

    write_labels(photos, out, [red_teacher()])
    summary = write_labels(photos[:1], out, [red_teacher()], existing="overwrite")
    names, doc = state()
    assert names == ["p0.png", "p1.png", "p2.png"] and sorted(doc["images"]) == ["p0", "p1", "p2"]
    assert summary["images"] == 3 and summary["skipped"] == 2 and doc["complete"]
    summary = write_labels(photos[:1], out, [red_teacher()], LabelSettings(low=0.1), existing="overwrite")
    names, doc = state()
    assert names == ["p0.png"] and sorted(doc["images"]) == ["p0"] and doc["settings"]["low"] == 0.1
    assert summary["images"] == 1 and summary["skipped"] == 0 and doc["complete"]

    def stop(x: np.ndarray):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):  # interrupted: the old set is gone and the new one marked incomplete
        write_labels(photos, out, [Teacher("selfie", "selfie", "stretch", (32, 32), stop)], existing="overwrite")
    names, doc = state()
    assert names == [] and doc["images"] == {} and not doc["complete"] and doc["settings"]["low"] == 0.35


def test_overwrite_with_the_same_boxes_spelled_otherwise_keeps_the_other_labels(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`--boxes boxes` one time and `--boxes /abs/boxes` the next are the same labels: --overwrite of one image
    removed every other mask (hours of teacher labelling) because the two spellings differed."""
    photos = make_photos(tmp_path / "img")
    (tmp_path / "boxes").mkdir()
    for p in photos:
        (tmp_path / "boxes" / f"{p.stem}.txt").write_text("20 30 50 110\n")
    out = tmp_path / "out"
    monkeypatch.chdir(tmp_path)
    write_labels(photos, out, [red_teacher()], boxes="boxes")
    summary = write_labels(photos[:1], out, [red_teacher()], boxes=tmp_path / "boxes", existing="overwrite")
    assert sorted(p.name for p in (out / "masks").glob("*.png")) == ["p0.png", "p1.png", "p2.png"]
    assert summary["skipped"] == 2
    write_labels(photos, out, [red_teacher()], boxes="./boxes", existing="skip")  # no "made with other boxes"


def test_bad_inputs_are_reported_one_line_each_and_the_rest_labelled(tmp_path: Path) -> None:
    photos = make_photos(tmp_path / "img")
    photos[1].write_bytes(b"not an image")
    other = make_photos(tmp_path / "again", 1)  # id p0 twice
    boxes = tmp_path / "boxes"
    boxes.mkdir()
    (boxes / "p0.txt").write_text("20 30 50 110\n")
    (boxes / "p2.txt").write_text("garbage\n")
    errors: list[str] = []
    summary = write_labels(photos + other, tmp_path / "out", [red_teacher()], boxes=boxes, on_error=errors.append)
    assert summary["failed"] == 3 and summary["images"] == 1  # the second p0 is not labelled: failed too
    assert len(errors) == 3
    for msg, name in zip(errors, (other[0], photos[1], boxes / "p2.txt")):
        assert_one_line_naming(msg, name)
    assert (tmp_path / "out" / "masks" / "p0.png").is_file()
    with pytest.raises(LabelError, match="no such folder of boxes"):
        write_labels(photos, tmp_path / "out2", [red_teacher()], boxes=tmp_path / "none")


def test_labelling_imports_no_torch() -> None:
    code = ("import sys, segblur.training.label, segblur.training.teachers, segblur.eval.regions, segblur.cli.label\n"
            "bad = [m for m in ('torch',) if m in sys.modules]\nsys.exit(f'loaded {bad}' if bad else 0)")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]


TEACHERS = REPO / ".cache" / "teachers"


@pytest.mark.skipif(not (TEACHERS / "pose_landmark_heavy.tflite").is_file(),
                    reason="no .cache/teachers (python benchmarks/fetch_teachers.py)")
def test_real_teachers_label_a_generated_picture() -> None:
    pytest.importorskip("ai_edge_litert", reason="LiteRT (the bench extra) is not installed")
    from segblur.training.teachers import default_teachers

    teachers = default_teachers(TEACHERS, threads=1)
    assert [t.kind for t in teachers] == ["pose", "selfie"]
    prob, extras = teachers[0].run(np.zeros((256, 256, 3), np.uint8))
    assert prob.shape == (256, 256) and set(extras) == {"presence", "legs", "upright"}
    out = label_image(scene(), np.array([[20, 30, 50, 110]], np.float32), teachers)
    assert out.mask.shape == (120, 160) and set(np.unique(out.mask)) <= {0, 1, IGNORE}
