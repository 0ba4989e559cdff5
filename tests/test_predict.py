from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

pytest.importorskip("onnxruntime")

from microaunet.checkpoint import save_weights  # noqa: E402
from microaunet.cli import main  # noqa: E402
from microaunet.data import DataError  # noqa: E402
from microaunet.data.synthetic import synthetic_pair  # noqa: E402
from microaunet.inference import Segmenter  # noqa: E402
from microaunet.models import build_model  # noqa: E402
from microaunet.predict import predict_path  # noqa: E402


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
    with pytest.raises(ValueError, match="divisible by 32"):
        Segmenter(weights, size=100)


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
    from microaunet.predict import overlay

    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (120, 160, 3), dtype=np.uint8)
    mask = np.zeros((120, 160), bool)
    mask[30:90, 40:100] = True
    out = overlay(image, mask)
    expected = 0.65 * image[40:80, 50:90].astype(np.float64) + 0.35 * np.array([0, 255, 0])
    assert np.abs(out[40:80, 50:90] - expected).max() <= 1  # the tinted interior
    assert np.array_equal(out[:, 110:], image[:, 110:]) and np.array_equal(out[100:], image[100:])
    assert np.array_equal(overlay(image, np.zeros_like(mask)), image)  # nothing found, nothing drawn
