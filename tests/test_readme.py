"""The README's result tables are the summary `microaunet report` wrote, not a hand-kept copy of it."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def summary_tables(tables_md: str) -> list[str]:
    """The Markdown tables of the summary: every table before Table 1's caption."""
    summary = tables_md.split("\nTable 1:", 1)[0]
    tables, rows = [], []
    for line in summary.splitlines() + [""]:
        if line.startswith("|"):
            rows.append(line)
        elif rows:
            tables.append("\n".join(rows))
            rows = []
    return tables


def test_summary_tables_are_found_in_a_report():
    text = "Summary: ...\n\nA:\n\n| a |\n|---|\n| 1 |\n\nB:\n\n| b |\n|---|\n| 2 |\n\nTable 1: ...\n\n| c |\n"
    assert summary_tables(text) == ["| a |\n|---|\n| 1 |", "| b |\n|---|\n| 2 |"]


def test_readme_shows_the_summary_tables_of_results():
    tables = summary_tables((ROOT / "results" / "tables.md").read_text())
    readme = (ROOT / "README.md").read_text()
    assert len(tables) == 2, "results/tables.md should hold one summary table per training schedule"
    for table in tables:
        assert table in readme, (
            "README.md's results differ from results/tables.md's summary; copy the table:\n" + table
        )


def code_blocks(language: str) -> list[str]:
    """The README's fenced code blocks in ``language``, in order."""
    parts = (ROOT / "README.md").read_text().split("```")
    return [part.split("\n", 1)[1] for part in parts[1::2] if part.split("\n", 1)[0].strip() == language]


def readme_commands() -> list[list[str]]:
    """Every ``microaunet ...`` command of the README's shell blocks, as argument lists (comments, redirections
    and what follows ``&&`` left out)."""
    import shlex

    commands = []
    for block in code_blocks("bash"):
        for line in block.splitlines():
            for part in line.split("&&"):
                words = shlex.split(part, comments=True)
                if words[:1] == ["microaunet"]:
                    commands.append(words[1:words.index(">")] if ">" in words else words[1:])
    return commands


def test_every_readme_command_parses() -> None:
    from microaunet.cli import build_parser

    commands = readme_commands()
    assert len(commands) > 15 and ["evaluate", "--weights", "microaunet-kvasir", "--data", "data/Kvasir-SEG",
                                   "--split", "test"] in commands
    for argv in commands:
        build_parser().parse_args(argv)  # exits (fails the test) on an unknown or missing flag


def test_readme_evaluates_the_shipped_weights(synthetic_dir: Path, capsys) -> None:
    """The README's command, on the synthetic data instead of Kvasir-SEG (whose test split it does not have)."""
    import json

    from microaunet.cli import main

    argv = next(c for c in readme_commands() if c[:2] == ["evaluate", "--weights"] and "--tta" in c)
    argv = [str(synthetic_dir) if a == "data/Kvasir-SEG" else "all" if a == "test" else a for a in argv]
    assert main([*argv, "--size", "64", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert (result["weights"], result["tta"], result["images"]) == ("microaunet-kvasir", "flip", 24)


def test_readme_python_examples_run(tmp_path: Path, monkeypatch) -> None:
    """The image-to-mask example, then the ONNX Runtime one in a process where torch and microaunet cannot be
    imported, on the graph the README's export command writes."""
    import os
    import subprocess
    import sys

    import numpy as np
    import pytest
    from PIL import Image

    pytest.importorskip("onnxruntime")
    from microaunet.cli import main
    from microaunet.data.synthetic import synthetic_pair

    blocks = {b.splitlines()[0]: b for b in code_blocks("python") if b.startswith("# ")}
    image, _ = synthetic_pair(np.random.default_rng(0), 256)
    monkeypatch.chdir(tmp_path)
    Image.fromarray(image).resize((300, 220)).save("polyp.jpg")
    exec(compile(blocks["# image to mask and overlay"], "README.md", "exec"), {})
    assert Image.open("polyp_mask.png").size == Image.open("polyp_overlay.png").size == (300, 220)
    first = np.asarray(Image.open("polyp_mask.png"))
    os.remove("polyp_mask.png")
    export = next(c for c in readme_commands() if c[0] == "export")
    assert main(export) == 0 and Path("microaunet.onnx").is_file()
    script = "import sys\nsys.modules['torch'] = sys.modules['microaunet'] = None\n" + blocks["# ONNX Runtime alone"]
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    mask = np.asarray(Image.open("polyp_mask.png"))
    assert mask.shape == (220, 300) and set(np.unique(mask)) <= {0, 255}
    assert (mask == first).mean() > 0.999  # OpenCV's JPEG decoder against Pillow's: a boundary pixel or two
    assert Image.open("polyp_overlay.png").size == (300, 220)


def test_readme_trains_and_distils_from_python(synthetic_dir: Path, tmp_path: Path, monkeypatch) -> None:
    """The README's Python training example, on the synthetic dataset with a one-epoch schedule."""
    blocks = {b.splitlines()[0]: b for b in code_blocks("python") if b.startswith("# ")}
    code = blocks["# train and distil from Python"].replace('"data/Kvasir-SEG"', repr(str(synthetic_dir)))
    code = code.replace("epochs=300", "epochs=1, split='random', size=64, batch_size=4, threads=1, layout='nchw'")
    assert code.count("epochs=1,") == 2
    monkeypatch.chdir(tmp_path)
    exec(compile(code, "README.md", "exec"), {})
    from microaunet.training import TrainConfig, load_model

    assert load_model(tmp_path / "runs" / "student" / "final.safetensors")[1]["model"] == "microaunet"
    config = TrainConfig.load(tmp_path / "runs" / "student" / "config.json")
    assert config.kd == "paper" and config.teachers == ["runs/malunet/final.safetensors"]
