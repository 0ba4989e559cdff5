"""Long work reports its progress off a terminal too, and files kept between runs say where they go."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest

from microaunet.data import cache
from microaunet.progress import Progress, progress


def test_lines_off_a_terminal() -> None:
    out = io.StringIO()  # not a terminal, as a CI log or a notebook's stream
    with Progress(40, "evaluate", "images", file=out) as bar:
        for _ in range(40):
            bar.update()
    lines = out.getvalue().splitlines()
    assert len(lines) == 10 and lines[0].startswith("evaluate: 4/40 images, ") and "left" in lines[0]
    assert lines[-1].startswith("evaluate: 40/40 images") and "left" not in lines[-1]


def test_unknown_total_prints_on_a_timer() -> None:
    out = io.StringIO()
    bar = Progress(None, "clip.mp4", "frames", file=out, interval=0)
    bar.update(5)
    bar.close()
    assert out.getvalue().startswith("clip.mp4: 5 frames, ")


def test_progress_wraps_an_iterable(capsys: pytest.CaptureFixture) -> None:
    assert list(progress(range(3), "work")) == [0, 1, 2]
    assert "work: 3/3 it" in capsys.readouterr().err


def test_cache_folder_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MICROAUNET_CACHE", str(tmp_path / "mine"))
    assert cache.default_cache_dir() == tmp_path / "mine"
    monkeypatch.delenv("MICROAUNET_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache.default_cache_dir() == tmp_path / "xdg" / "microaunet"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert cache.default_cache_dir() == Path.home() / ".cache" / "microaunet"


def test_onnx_cache_is_announced_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture) -> None:
    pytest.importorskip("onnxruntime")
    from microaunet.deploy.segmenter import Segmenter

    monkeypatch.setattr(cache, "_ANNOUNCED", set())
    image = np.zeros((40, 50, 3), np.uint8)
    Segmenter(size=64).predict(image)
    err = capsys.readouterr().err
    assert err.count("note: caching ONNX exports in") == 1 and str(tmp_path / "cache") in err  # conftest's cache
    Segmenter(size=64).predict(image)  # the same export, from the cache: nothing more to say
    Segmenter(size=96).predict(image)  # a new one, in the folder already named
    assert "note:" not in capsys.readouterr().err
    assert len(list((tmp_path / "cache" / "onnx").glob("*.onnx"))) == 2
