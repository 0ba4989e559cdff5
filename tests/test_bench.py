"""The benchmark commands run end to end (their figures are measured by hand, not asserted)."""

from __future__ import annotations

from pathlib import Path

import pytest

from microaunet.bench import bench_data, bench_speed, bench_train, format_speed


def test_bench_data_and_train_run(synthetic_dir: Path) -> None:
    data = bench_data(synthetic_dir, size=64, limit=8)
    assert data["samples"] == 8 and data["speedup"] > 0
    train = bench_train(synthetic_dir, size=64, batch_size=2, steps=1, warmup=1)
    for key in ("teacher_eager_decode_nchw", "teacher_cached_fastest_layout", "distill_speedup"):
        assert train[key] > 0
    assert set(train["layouts"].values()) <= {"nchw", "channels_last"}


def test_bench_speed_runs(capsys: pytest.CaptureFixture) -> None:
    result = bench_speed(["microaunet"], size=64, threads=(1,), repeats=2, warmup=1, video_frames=6)
    # batch 1 and 8 plain; the test-time augmentations at batch 1 (MicroAUNet only)
    expected = {(b, n, "none") for b in ("torch", "onnxruntime") for n in (1, 8)}
    expected |= {(b, 1, tta) for b in ("torch", "onnxruntime") for tta in ("flip", "flip4")}
    assert {(r["backend"], r["batch"], r["tta"]) for r in result["rows"]} == expected
    assert all(r["images_per_s"] > 0 for r in result["rows"]) and "onnxruntime" in format_speed(result)
    assert "flip4" in format_speed(result) and "bench speed: 9/9 measurements" in capsys.readouterr().err
    assert result["video"][0]["frames"] == 6 and result["video"][0]["size"] == [1280, 720]
    assert "1280x720 video" in format_speed(result)
