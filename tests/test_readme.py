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
