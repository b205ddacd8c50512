"""``segblur evaluate``: the table, --json, --predictions, checkpoints and one-line failures."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import (
    check_columns_scores,
    make_columns_dataset,
    make_sequence_folder,
    one_error_line,
    run_cli,
    save_tiny_checkpoint,
)

from segblur.cli.main import main


def test_cli_evaluate_prints_table_and_writes_json(tmp_path: Path, model_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    root = make_columns_dataset(tmp_path / "ds")
    js = tmp_path / "out" / "report.json"
    code, out, err = run_cli(capsys, "evaluate", "--model", model_path, "--data", f"folder:{root}", "--json", js,
                         "--predictions-out", tmp_path / "pred")
    assert code == 0, err
    assert "person" in out and "0.7500" in out and "mean IoU 0.7750" in out and "boundary F1" in out
    assert "3/3 images" in err and "ETA" in err  # progress with rate and ETA
    report = json.loads(js.read_text())
    check_columns_scores(report)
    assert report["data"] == f"folder:{root}"
    assert [p.name for p in js.parent.iterdir()] == ["report.json"]  # no temp file left
    code, out, err = run_cli(capsys, "evaluate", "--predictions", tmp_path / "pred", "--data", f"folder:{root}",
                         "--tolerance-px", "4", "-q")
    assert code == 0 and err == ""
    assert "mean boundary F1 1.0000 (tolerance 4 px)" in out


def test_cli_evaluate_failures(tmp_path: Path, model_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = make_columns_dataset(tmp_path / "ds")
    pred = tmp_path / "pred"
    pred.mkdir()
    cv2.imwrite(str(pred / "a.png"), np.zeros((32, 32), np.uint8))
    code, out, err = run_cli(capsys, "evaluate", "--predictions", pred, "--data", f"folder:{root}", "-q")
    assert code == 1 and "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 2 and "'b'" in lines[0] and "'c'" in lines[1]
    assert "1 images, 2 failed" in out
    for argv, name in (
        (["--model", model_path, "--data", "voc:" + str(root)], root),  # not a VOC layout
        (["--model", tmp_path / "nope.onnx", "--data", f"folder:{root}"], tmp_path / "nope.onnx"),
        (["--model", model_path, "--data", f"folder:{root}", "--split", "holdout"], "holdout"),
        (["--predictions", tmp_path / "none", "--data", f"folder:{root}"], tmp_path / "none"),
    ):
        code, _, err = run_cli(capsys, "evaluate", *argv)
        assert code == 2, argv
        line = err.strip()
        assert line.startswith("segblur: error:") and "\n" not in line
        assert str(name) in line
    with pytest.raises(SystemExit):  # --model and --predictions exclude each other
        main(["evaluate", "--model", str(model_path), "--predictions", str(pred), "--data", f"folder:{root}"])


def test_cli_evaluate_is_listed_in_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "evaluate" in capsys.readouterr().out


def test_cli_evaluate_help_lists_every_dataset_kind(capsys: pytest.CaptureFixture[str]) -> None:
    from segblur.data import DATASET_KINDS

    with pytest.raises(SystemExit):
        main(["evaluate", "--help"])
    out = capsys.readouterr().out
    assert all(f"{kind}:" in out for kind in DATASET_KINDS), out


def test_cli_evaluates_a_checkpoint(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("torch")
    ckpt = tmp_path / "c.pt"
    save_tiny_checkpoint(ckpt, seed=1)
    root = make_columns_dataset(tmp_path / "ds")
    code, out, err = run_cli(capsys, "evaluate", "--model", ckpt, "--data", f"folder:{root}", "-q")
    assert code == 0, err
    assert f"model: {ckpt}" in out and "person" in out
    code, _, err = run_cli(capsys, "evaluate", "--model", tmp_path / "missing.pt", "--data", f"folder:{root}")
    assert code == 2 and str(tmp_path / "missing.pt") in err
    # torch runs a checkpoint on the CPU: an execution provider asked for is refused, not silently left unused.
    for provider in ("cuda", "cpu,CUDAExecutionProvider"):
        code, out, err = run_cli(capsys, "evaluate", "--model", ckpt, "--data", f"folder:{root}", "--provider",
                                 provider, "-q")
        assert code == 2 and out == "" and "--provider cuda" in one_error_line(err).lower(), provider
    code, _, err = run_cli(capsys, "evaluate", "--model", ckpt, "--data", f"folder:{root}", "--provider", "cpu",
                           "--provider", "auto", "-q")
    assert code == 0, err


def test_cli_evaluates_a_sequence_in_order(tmp_path: Path, model_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    seq = make_sequence_folder(tmp_path / "seq")
    js = tmp_path / "seq.json"
    code, out, err = run_cli(capsys, "evaluate", "--sequence", seq, "--model", model_path, "--region", "subject",
                             "--lookahead", "2", "--json", js, "-q")
    assert code == 0, err
    assert "8 frames, scored on a box around the subject" in out and "temporal error" in out and "flicker" in out
    report = json.loads(js.read_text())
    assert report["frames"] == 8 and report["iou"] > 0.8 and report["settings"]["temporal"] == "lookahead 2"
    assert len(report["per_frame_iou"]) == 8
    code, out, _ = run_cli(capsys, "evaluate", "--sequence", seq, "--model", model_path, "--no-temporal",
                           "--subject", "main", "--no-follow", "-q")
    assert code == 0 and "settings: temporal off, subject main, follow off\n" in out
    for argv in (["--sequence", seq, "--data", f"folder:{seq}"], ["--masks", seq, "--model", model_path],
                 ["--model", model_path], ["--sequence", tmp_path / "none"],
                 ["--sequence", seq, "--model", tmp_path / "x.pt"]):
        code, _, err = run_cli(capsys, "evaluate", *argv)
        assert code == 2 and one_error_line(err).startswith("segblur: error:"), argv


def test_cli_evaluate_never_writes_over_its_inputs(tmp_path: Path, model_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    from conftest import one_error_line

    root = make_columns_dataset(tmp_path / "ds")
    model = tmp_path / "m.onnx"
    model.write_bytes(model_path.read_bytes())
    masks = sorted(p.read_bytes() for p in (root / "masks").iterdir())
    cases = [["--predictions-out", root / "masks"],  # the ground truth was replaced by predictions
             ["--json", model],  # the model was replaced by the report
             ["--json", root / "report.json"]]  # inside the data folder
    for extra in cases:
        code, _, err = run_cli(capsys, "evaluate", "--model", model, "--data", f"folder:{root}", "-q", *extra)
        assert code == 2 and str(extra[1]) in one_error_line(err), extra
    assert sorted(p.read_bytes() for p in (root / "masks").iterdir()) == masks
    assert model.read_bytes() == model_path.read_bytes() and not (root / "report.json").exists()


@pytest.mark.parametrize("command", ["evaluate", "image", "benchmark"])
def test_provider_lists_parse_alike_in_every_command(command: str) -> None:
    """`--provider cuda,cpu` is one list of two names wherever a model runs (evaluate once took it as one name)."""
    from segblur.cli.main import build_parser

    where = ["x.png", "-o", "y.png"] if command == "image" else []
    args = build_parser().parse_args([command, *where, "--provider", "cuda,cpu", "--providers", "dml"])
    assert args.providers == ["cuda", "cpu", "dml"]


def test_cli_evaluate_sequence_never_writes_over_its_inputs(tmp_path: Path, model_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    """--json is checked against the model, the frame folder or video and its true masks before the evaluation."""
    seq = make_sequence_folder(tmp_path / "seq", 3)
    model = tmp_path / "m.onnx"
    model.write_bytes(model_path.read_bytes())
    mask = seq / "masks" / "f-000.png"
    truth = mask.read_bytes()
    video = tmp_path / "clip.mp4"
    video.write_bytes(b"not decoded: refused before")
    for argv, json_out in (([seq], model), ([seq], mask), ([video, "--masks", seq / "masks"], video),
                           ([video, "--masks", seq / "masks"], mask)):
        code, _, err = run_cli(capsys, "evaluate", "--sequence", *argv, "--model", model, "--json", json_out, "-q")
        line = one_error_line(err)
        assert code == 2 and str(json_out) in line and "input" in line, (argv, json_out)
    assert model.read_bytes() == model_path.read_bytes() and mask.read_bytes() == truth
    assert video.read_bytes() == b"not decoded: refused before"
    # A report beside images/ and masks/ replaces nothing the sequence is read from.
    code, _, err = run_cli(capsys, "evaluate", "--sequence", seq, "--model", model, "--json", seq / "report.json",
                           "--no-temporal", "-q")
    assert code == 0, err
    assert json.loads((seq / "report.json").read_text())["frames"] == 3


def test_cli_evaluate_json_to_a_folder_is_refused_before_the_work(tmp_path: Path, model_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """--json that is a folder or lies under a file is one line before any image is scored (no progress line)."""
    root = make_columns_dataset(tmp_path / "ds")
    seq = make_sequence_folder(tmp_path / "seq", 3)
    (tmp_path / "afile").write_text("x")
    for where in (["--data", f"folder:{root}"], ["--sequence", seq]):
        for json_out in (tmp_path, tmp_path / "afile" / "r.json"):
            code, _, err = run_cli(capsys, "evaluate", "--model", model_path, *where, "--json", json_out)
            assert code == 2 and str(json_out) in one_error_line(err), (where, json_out)


def test_cli_evaluate_json_to_standard_output(tmp_path: Path, model_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    """--json - writes only the JSON to standard output (the table goes to standard error), for `| jq`."""
    root = make_columns_dataset(tmp_path / "ds")
    code, out, err = run_cli(capsys, "evaluate", "--model", model_path, "--data", f"folder:{root}", "--json", "-",
                             "-q")
    assert code == 0, err
    check_columns_scores(json.loads(out))
    assert "mean IoU 0.7750" in err
    seq = make_sequence_folder(tmp_path / "seq", 3)
    code, out, err = run_cli(capsys, "evaluate", "--sequence", seq, "--model", model_path, "--json", "-", "-q")
    assert code == 0, err
    assert json.loads(out)["frames"] == 3 and "3 frames, scored on whole frames" in err


def test_cli_evaluate_refuses_options_of_the_other_mode(tmp_path: Path, model_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    """The pipeline options go with --sequence, --split with --data: given to the other mode, one line (exit 2)."""
    root = make_columns_dataset(tmp_path / "ds")
    data = ["--model", model_path, "--data", f"folder:{root}", "-q"]
    for extra in (["--region", "frame"], ["--lookahead", "8"], ["--threshold", "0.5"], ["--softness", "0"],
                  ["--grow", "0"], ["--feather", "1"], ["--no-guided"], ["--subject", "all"], ["--follow"],
                  ["--no-follow"], ["--no-temporal"], ["--masks", root]):
        code, out, err = run_cli(capsys, "evaluate", *data, *extra)
        line = one_error_line(err)
        assert code == 2 and extra[0].replace("no-", "") in line.replace("no-", "") and "--sequence" in line, extra
        assert out == ""
    code, _, err = run_cli(capsys, "evaluate", *data, "--grow", "2", "--no-guided")
    assert code == 2 and "--grow, --no-guided are only used with --sequence" in one_error_line(err)
    seq = make_sequence_folder(tmp_path / "seq", 3)
    code, _, err = run_cli(capsys, "evaluate", "--sequence", seq, "--model", model_path, "--split", "val", "-q")
    assert code == 2 and "--split" in one_error_line(err)
    # Left out with --sequence, the options keep their defaults (the smoothing looks 8 frames ahead).
    code, out, err = run_cli(capsys, "evaluate", "--sequence", seq, "--model", model_path, "--json", "-", "-q")
    assert code == 0, err
    assert json.loads(out)["settings"] == {"temporal": "lookahead 8", "subject": "all", "follow": True}
