from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

pytest.importorskip("onnxruntime")

from microaunet.cli import main  # noqa: E402
from microaunet.data import DataError  # noqa: E402
from microaunet.data.synthetic import synthetic_pair  # noqa: E402
from microaunet.deploy.predict import predict_path  # noqa: E402
from microaunet.deploy.segmenter import Segmenter  # noqa: E402
from microaunet.models import build_model  # noqa: E402
from microaunet.training.checkpoint import save_weights  # noqa: E402


@pytest.fixture(scope="module")
def onnx_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(autouse=True)
def _shared_cache(onnx_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """One cache for this module's tests, which share their weights: each export (one per weights file, size
    and TTA) is made once, not once a test."""
    monkeypatch.setenv("MICROAUNET_CACHE", str(onnx_cache))


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("w") / "tiny.safetensors"
    save_weights(build_model("microaunet", seed=0).eval(), "microaunet", path)
    return path


@pytest.fixture(scope="module")
def image() -> np.ndarray:
    img, _ = synthetic_pair(np.random.default_rng(0), 256)
    return cv2.resize(img, (301, 217))


def test_onnx_and_torch_backends_agree_at_the_input_resolution(weights: Path, image: np.ndarray) -> None:
    a = Segmenter(weights, size=64, backend="onnx").predict(image)
    b = Segmenter(weights, size=64, backend="torch").predict(image)
    assert a.probability.shape == a.mask.shape == (217, 301)
    assert np.abs(a.probability - b.probability).max() <= 1e-4
    assert a.mask.dtype == bool and np.array_equal(a.mask, a.probability >= 0.5)


@pytest.mark.parametrize("shape", [(50, 40), (50, 40, 1), (50, 40, 4), (3, 5, 3), (1500, 2100, 3)])
def test_odd_images_get_a_result(weights: Path, shape: tuple[int, ...]) -> None:
    arr = np.random.default_rng(0).integers(0, 255, shape, dtype=np.uint8)
    assert Segmenter(weights, size=64).predict(arr).mask.shape == shape[:2]


def test_bad_arrays_are_refused(weights: Path) -> None:
    seg = Segmenter(weights, size=64)
    with pytest.raises(ValueError, match="uint8"):
        seg.predict(np.zeros((8, 8, 3), np.float32))
    with pytest.raises(ValueError, match="shape"):
        seg.predict(np.zeros((8, 8, 2), np.uint8))
    with pytest.raises(ValueError, match="positive"):
        Segmenter(weights, size=0)
    with pytest.raises(ValueError, match="none, flip, flip4"):
        Segmenter(weights, size=64, tta="rotate")


@pytest.mark.parametrize("size,tta", [(100, "none"), (64, "flip")])
def test_any_size_and_tta_on_both_backends(weights: Path, image: np.ndarray, size: int, tta: str) -> None:
    """A size not divisible by 32 is padded and cropped back (in PyTorch, and inside the exported graph)."""
    a = Segmenter(weights, size=size, tta=tta).predict(image)
    b = Segmenter(weights, size=size, tta=tta, backend="torch").predict(image)
    assert a.mask.shape == (217, 301) and np.abs(a.probability - b.probability).max() <= 1e-4


def test_folder_with_bad_files_exits_non_zero_unless_skipped(weights: Path, image: np.ndarray, tmp_path: Path,
                                                            capsys: pytest.CaptureFixture) -> None:
    src = tmp_path / "in"
    src.mkdir()
    cv2.imwrite(str(src / "a.jpg"), image)
    (src / "broken.png").write_bytes(b"\x89PNG not really")
    (src / "cut.jpg").write_bytes((src / "a.jpg").read_bytes()[:300])  # a truncated download
    args = ["predict", str(src), "--ckpt", str(weights), "--size", "64", "-o", str(tmp_path / "out")]
    assert main(args) == 1
    out, err = capsys.readouterr()
    assert "broken.png" in out and "cut.jpg" in out and (tmp_path / "out" / "masks" / "a.png").is_file()
    assert "error: 2 of 3 images could not be read" in err and "predict: 3/3 images" in err  # progress off a TTY
    assert main([*args, "--skip-bad"]) == 0


def test_folder_with_a_corrupt_file(weights: Path, image: np.ndarray, tmp_path: Path) -> None:
    src = tmp_path / "in"
    src.mkdir()
    cv2.imwrite(str(src / "a.jpg"), image)
    (src / "broken.png").write_bytes(b"\x89PNG not really")
    result = predict_path(Segmenter(weights, size=64), src, tmp_path / "out")
    assert result["images"] == 1 and "broken.png" in result["errors"][0]
    mask = cv2.imread(str(tmp_path / "out" / "masks" / "a.png"), cv2.IMREAD_GRAYSCALE)
    assert mask.shape == (217, 301) and set(np.unique(mask)) <= {0, 255}
    assert cv2.imread(str(tmp_path / "out" / "overlays" / "a.png")).shape == (217, 301, 3)


def test_video_round_trip(weights: Path, image: np.ndarray, tmp_path: Path) -> None:
    video = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10, (128, 96))
    for i in range(7):
        writer.write(np.roll(cv2.resize(image, (128, 96)), 3 * i, axis=1))
    writer.release()
    result = predict_path(Segmenter(weights, size=64), video, tmp_path / "out", save_masks=True)
    assert result["frames"] == 7 and result["fps"] > 0
    cap = cv2.VideoCapture(result["video"])
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 7 and cap.read()[1].shape == (96, 128, 3)
    assert len(list((tmp_path / "out" / "masks").glob("*.png"))) == 7
    fourcc = int(cap.get(cv2.CAP_PROP_FOURCC)).to_bytes(4, "little").decode().lower()
    assert fourcc in ("avc1", "h264") if result["codec"] == "h264" else fourcc == "mp4v"


def test_video_is_h264_with_pyav(weights: Path, image: np.ndarray, tmp_path: Path) -> None:
    pytest.importorskip("av")
    from microaunet.deploy.predict import open_video_writer

    writer = open_video_writer(tmp_path / "v.mp4", 25, 101, 75)  # odd sizes: H.264's 4:2:0 needs even ones
    for _ in range(3):
        writer.write(cv2.resize(image, (101, 75)))
    writer.close()
    cap = cv2.VideoCapture(str(tmp_path / "v.mp4"))
    assert writer.codec == "h264" and int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 3


def test_video_without_an_h264_encoder_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture) -> None:
    from microaunet.deploy import predict

    monkeypatch.setitem(sys.modules, "av", None)  # as if PyAV were not installed
    fourcc = cv2.VideoWriter_fourcc
    monkeypatch.setattr(predict.cv2, "VideoWriter_fourcc",  # and OpenCV had no H.264 encoder: a code it cannot open
                        lambda *code: fourcc(*"XXXX") if "".join(code) == "avc1" else fourcc(*code))
    writer = predict.open_video_writer(tmp_path / "v.mp4", 25, 64, 48)
    writer.write(np.zeros((48, 64, 3), np.uint8))
    writer.close()
    err = capsys.readouterr().err
    assert writer.codec == "mp4v" and "browsers do not play" in err and "microaunet[video]" in err
    assert err.count("\n") == 1  # the note alone: OpenCV's failure to open the first codec stays silent


def test_corrupt_videos_give_one_line(weights: Path, tmp_path: Path) -> None:
    """ffmpeg's own lines ("moov atom not found", ...) are silenced; only the package's error remains."""
    (tmp_path / "junk.mp4").write_bytes(np.random.default_rng(0).bytes(4000))
    writer = cv2.VideoWriter(str(tmp_path / "whole.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), 10, (128, 96))
    rng = np.random.default_rng(0)
    for _ in range(20):
        writer.write(rng.integers(0, 256, (96, 128, 3), dtype=np.uint8))
    writer.release()
    whole = (tmp_path / "whole.mp4").read_bytes()
    (tmp_path / "cut.mp4").write_bytes(whole[:len(whole) // 2])  # a download cut short: no index
    script = ("import sys; from microaunet.cli import main; "
              "print([main(['predict', v, '--ckpt', sys.argv[1], '--size', '64', '--backend', 'torch', "
              "'-o', sys.argv[2]]) for v in sys.argv[3:]])")
    env = {k: v for k, v in os.environ.items() if k != "OPENCV_FFMPEG_LOGLEVEL"}
    done = subprocess.run([sys.executable, "-c", script, str(weights), str(tmp_path / "out"),
                           str(tmp_path / "junk.mp4"), str(tmp_path / "cut.mp4")],
                          capture_output=True, text=True, env=env, timeout=120)
    assert done.stdout.strip() == "[2, 2]", done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 2 and all(line.startswith("error: ") for line in lines), done.stderr
    assert "junk.mp4" in lines[0] and "cut.mp4" in lines[1]


def test_bad_videos_and_types(weights: Path, tmp_path: Path) -> None:
    seg = Segmenter(weights, size=64)
    (tmp_path / "empty.mp4").write_bytes(b"")
    with pytest.raises(DataError, match="empty.mp4"):
        predict_path(seg, tmp_path / "empty.mp4", tmp_path / "out")
    (tmp_path / "notes.txt").write_text("hi")
    with pytest.raises(DataError, match="unsupported file type"):
        predict_path(seg, tmp_path / "notes.txt", tmp_path / "out")
    with pytest.raises(DataError, match="no such file"):
        predict_path(seg, tmp_path / "missing.png", tmp_path / "out")


def test_export_command_prints_parity(weights: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["export", "--ckpt", str(weights), "--size", "64", "-o", str(tmp_path / "m.onnx"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["max_abs_diff_probability"] <= 1e-4


def test_predict_command_reports_bad_input_cleanly(weights: Path, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture) -> None:
    assert main(["predict", str(tmp_path / "nothing"), "--ckpt", str(weights), "--size", "64"]) == 2
    assert "no such file or folder" in capsys.readouterr().err


def test_overlay_tints_inside_and_leaves_the_rest() -> None:
    from microaunet.deploy.drawing import overlay

    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (120, 160, 3), dtype=np.uint8)
    mask = np.zeros((120, 160), bool)
    mask[30:90, 40:100] = True
    out = overlay(image, mask)
    expected = 0.65 * image[40:80, 50:90].astype(np.float64) + 0.35 * np.array([0, 255, 0])
    assert np.abs(out[40:80, 50:90] - expected).max() <= 1  # the tinted interior
    assert np.array_equal(out[:, 110:], image[:, 110:]) and np.array_equal(out[100:], image[100:])
    assert np.array_equal(overlay(image, np.zeros_like(mask)), image)  # nothing found, nothing drawn
    frame = np.ascontiguousarray(image[..., ::-1])  # the BGR frame a decoder gives: drawn into, the same drawing
    assert overlay(frame, mask, in_place=True, bgr=True) is frame and np.array_equal(frame[..., ::-1], out)


def test_video_masks_are_the_segmenters(weights: Path, image: np.ndarray, tmp_path: Path) -> None:
    """The video pipeline (BGR frames resized before the colour swap, the overlay drawn into the frame, four
    threads) gives each frame the mask Segmenter.predict gives it; the result reports both rates and the
    stages."""
    video = tmp_path / "clip.avi"
    frames = [np.roll(cv2.resize(image, (160, 120)), 5 * i, axis=1) for i in range(9)]
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10, (160, 120))
    for frame in frames:
        writer.write(frame)
    writer.release()
    capture = cv2.VideoCapture(str(video))
    decoded = [capture.read()[1] for _ in frames]
    segmenter = Segmenter(weights, size=64)
    result = predict_path(segmenter, video, tmp_path / "out", save_masks=True)
    for i, frame in enumerate(decoded):
        expected = segmenter.predict(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)).mask
        written = cv2.imread(str(tmp_path / "out" / "masks" / f"clip_{i:06d}.png"), cv2.IMREAD_GRAYSCALE)
        assert np.array_equal(written > 0, expected), i
    assert result["fps_whole_run"] > 0 and result["fps"] > 0 and result["resize"] == "area"
    assert set(result["stage_ms"]) == {"decode", "resize", "infer", "resize_back", "overlay", "encode"}


def test_openvino_backend_in_the_segmenter(weights: Path, image: np.ndarray) -> None:
    pytest.importorskip("openvino")
    a = Segmenter(weights, size=64, backend="openvino").predict(image)
    b = Segmenter(weights, size=64).predict(image)
    assert np.abs(a.probability - b.probability).max() <= 1e-2 and (a.mask == b.mask).mean() >= 0.999


def test_openvino_missing_names_the_extra(weights: Path, monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "openvino", None)  # as if OpenVINO were not installed
    cv2.imwrite(str(tmp_path / "a.png"), np.zeros((64, 64, 3), np.uint8))
    assert main(["predict", str(tmp_path / "a.png"), "--ckpt", str(weights), "--backend", "openvino",
                 "--out", str(tmp_path / "out")]) == 2
    assert "microaunet[openvino]" in capsys.readouterr().err


def test_preprocess_is_the_training_normalisation_bit_for_bit() -> None:
    import torch

    from microaunet.data.transforms import resize_image, to_model_input
    from microaunet.deploy.segmenter import preprocess

    images = [np.random.default_rng(i).integers(0, 256, (70 + i, 90, 3), dtype=np.uint8) for i in range(3)]
    expected = to_model_input(torch.from_numpy(np.stack([resize_image(im, 64) for im in images]))).numpy()
    got = preprocess(images, 64)
    assert got.dtype == np.float32 and got.flags.c_contiguous and np.array_equal(got, expected)
