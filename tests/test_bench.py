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
    from microaunet.bench import speed_backends

    result = bench_speed(["microaunet"], size=64, threads=(1,), repeats=2, warmup=1, video_frames=6, profile_runs=2)
    backends = speed_backends()
    # batch 1 and 8 plain; the test-time augmentations at batch 1 (MicroAUNet only); each installed backend
    expected = {(b, n, "none") for b in backends for n in (1, 8)}
    expected |= {(b, 1, tta) for b in backends for tta in ("flip", "flip4")}
    assert {(r["backend"], r["batch"], r["tta"]) for r in result["rows"]} == expected
    assert all(r["images_per_s"] > 0 and r["iqr_ms"] >= 0 for r in result["rows"])
    text = format_speed(result)
    assert "onnxruntime" in text and "flip4" in text and "targets: MicroAUNet" in text
    measurements = 4 * len(backends) + 1 + 1 + 1  # the rows, the profile, the video, the encoders
    assert f"/{measurements} measurements" in capsys.readouterr().err
    profile = result["profiles"]["microaunet"]
    assert profile["nodes_per_run"] > 0 and abs(sum(o["share"] for o in profile["ops"]) - 1) < 0.01
    video = result["video"][0]
    assert video["frames"] == 6 and video["size"] == [1280, 720] and video["fps_whole_run"] > 0
    assert set(video["stage_ms"]) == {"decode", "resize", "infer", "resize_back", "overlay", "encode"}
    assert "1280x720 video" in text and "whole run" in text and "mp4v" in result["encoders"]
