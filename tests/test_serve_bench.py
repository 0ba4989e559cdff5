"""``microaunet bench serve`` end to end on loopback, with tiny weights and a few requests (figures not asserted)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("onnxruntime")
pytest.importorskip("fastapi")

from microaunet.cli import main  # noqa: E402
from microaunet.models import build_model  # noqa: E402
from microaunet.training.checkpoint import save_weights  # noqa: E402


def test_bench_serve_counts_every_request(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    weights = tmp_path / "tiny.safetensors"
    save_weights(build_model("microaunet", seed=0).eval(), "microaunet", weights)
    out = tmp_path / "results" / "serve_bench"
    assert main(["bench", "serve", "--weights", str(weights), "--requests", "12", "--clients", "1", "3",
                 "--pairs", "4", "--out", str(out), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert [level["clients"] for level in result["levels"]] == [1, 3]
    for level in result["levels"]:
        assert level["ok"] == 12 and level["errors"] == {} and level["distinct_masks"] == 1
        assert 0 < level["p50_ms"] <= level["p95_ms"] <= level["p99_ms"] and level["requests_per_s"] > 0
        assert level["server_rss_mb"] > 0
    assert result["overhead"]["pairs"] == 4 and result["overhead"]["bare_predict"]["p50_ms"] > 0
    assert "720x576" in result["image"]
    markdown = out.with_suffix(".md").read_text()
    assert markdown.startswith("Command: `microaunet bench serve") and "| clients | requests |" in markdown
    assert json.loads(out.with_suffix(".json").read_text())["levels"] == result["levels"]
