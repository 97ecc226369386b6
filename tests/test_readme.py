"""The README Quickstart: exactly two commands, the second being what .ci/run runs."""

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
