"""The benchmark commands run end to end (their figures are measured by hand, not asserted)."""

from __future__ import annotations

from pathlib import Path

from microaunet.bench import bench_data, bench_train


def test_bench_data_and_train_run(synthetic_dir: Path) -> None:
    data = bench_data(synthetic_dir, size=64, limit=8)
    assert data["samples"] == 8 and data["speedup"] > 0
    train = bench_train(synthetic_dir, size=64, batch_size=2, steps=1, warmup=1)
    for key in ("teacher_eager_decode_nchw", "teacher_cached_channels_last", "distill_speedup"):
        assert train[key] > 0
