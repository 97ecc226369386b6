"""The README: a front page whose Quickstart is two commands (the second what .ci/run runs), whose files exist
and whose commands parse."""

import re

from conftest import REPO


def quickstart_commands() -> list[str]:
    readme = (REPO / "README.md").read_text()
    section = readme.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    return [block.strip() for block in re.findall(r"```bash\n(.*?)```", section, re.S)]


def test_quickstart_has_two_commands_and_ci_runs_the_second():
    commands = quickstart_commands()
    assert len(commands) == 2 and all("\n" not in c for c in commands)
    ci_lines = [line for line in (REPO / ".ci" / "run").read_text().splitlines() if line and line[0] != "#"]
    assert commands[1] in ci_lines
    assert "torch==2.13.0" in commands[0] and "arc-trm " in commands[0]


README = (REPO / "README.md").read_text()
TOP = ("arc_trm/", "benchmarks/", "configs/", "docs/", "kaggle/", "examples/", "tests/", "cli/", "scripts/", ".ci/")


def test_readme_is_a_front_page_not_a_notebook():
    assert len(README.splitlines()) <= 200
    headings = [line for line in README.splitlines() if line.startswith("## ")]
    assert headings[:3] == ["## Results", "## Quickstart", "## Commands"]


def test_every_file_the_docs_name_exists():
    """Paths in backticks and link targets of the README and docs/ (relative to the repository or the page)."""
    for page in [REPO / "README.md", *REPO.glob("docs/**/*.md"), REPO / "kaggle" / "README.md"]:
        text = page.read_text()
        for target in re.findall(r"\]\(([^)#\s]+)\)", text):
            if not target.startswith("http"):
                assert (page.parent / target).exists(), f"{page.name}: link {target}"
        for name in re.findall(r"`([\w./-]+)`", text):
            if name.startswith(TOP) and not any(c in name for c in "*<>") and "NAME" not in name:
                assert (REPO / name).exists() or (REPO / name.rstrip("/")).exists(), f"{page.name}: {name}"


def test_the_modules_named_in_how_it_works_exist():
    section = README.split("## How it works", 1)[1].split("\n## ", 1)[0]
    for module in re.findall(r"`?([\w/]+\.py)`?", section):
        assert list(REPO.glob(f"arc_trm/**/{module}")) or (REPO / module).is_file(), module


def test_how_it_works_names_the_folders_in_data_flow_order():
    from test_layout import LAYERS

    section = README.split("## How it works", 1)[1].split("\n## ", 1)[0]
    assert re.findall(r"^\| `(\w+)/` \|", section, re.M) == LAYERS


def test_every_command_in_the_table_parses(tmp_path):
    """Each example of the command table: its command exists, -h works, and every option it uses is known."""
    from typer.testing import CliRunner

    from arc_trm_cli.app import app

    section = README.split("## Commands", 1)[1].split("\n## ", 1)[0]
    examples = re.findall(r"^\| `[^`]+` \| `arc-trm ([^`]+)` \|", section, re.M)
    assert len(examples) >= 9
    for example in examples:
        words = example.split()
        command = words[:2] if words[0] == "kaggle" else words[:1]
        result = CliRunner().invoke(app, [*command, "-h"], env={"COLUMNS": "200"})
        assert result.exit_code == 0, (example, result.output)
        for option in (w for w in words if w.startswith("--")):
            assert option in result.output, (example, option)
