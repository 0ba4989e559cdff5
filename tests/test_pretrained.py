"""The weights shipped in the package load, are what they say, and run through the default Segmenter."""

from __future__ import annotations

import numpy as np
import pytest

from microaunet import count_parameters, list_pretrained, load_pretrained


def test_shipped_weights() -> None:
    assert {"microaunet-kvasir", "malunet-kvasir"} <= set(list_pretrained())
    student = load_pretrained("microaunet-kvasir")
    assert student.pretrained_info["model"] == "microaunet" and count_parameters(student) == 24_881
    assert student.pretrained_info["config"]["extra"]["teacher_model"] == "malunet"
    teacher = load_pretrained("malunet-kvasir")
    assert count_parameters(teacher) == 177_943


def test_unknown_name_lists_the_choices() -> None:
    with pytest.raises(ValueError, match="microaunet-kvasir"):
        load_pretrained("nope")


def test_default_segmenter_runs_the_shipped_student() -> None:
    pytest.importorskip("onnxruntime")
    from microaunet.inference import Segmenter

    image = np.random.default_rng(0).integers(0, 255, (300, 200, 3), dtype=np.uint8)
    assert Segmenter().predict(image).mask.shape == (300, 200)


def test_shipped_student_onnx_parity() -> None:
    pytest.importorskip("onnxruntime")
    from microaunet.data.synthetic import synthetic_pair
    from microaunet.inference import Segmenter

    image, _ = synthetic_pair(np.random.default_rng(0), 256)
    a = Segmenter().predict(image)
    b = Segmenter(backend="torch").predict(image)
    assert a.mask.shape == (256, 256) and np.abs(a.probability - b.probability).max() <= 1e-4
