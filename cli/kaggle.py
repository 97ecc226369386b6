"""`arc-trm kaggle build`: the offline Kaggle notebook and the dataset folder it installs and runs from."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from arc_trm.core.durations import format_duration, parse_duration
from arc_trm_cli.options import CheckpointFile, Command, Overrides, TimeBudget, input_errors, repo_config

app = typer.Typer(help="Kaggle code submissions: an offline notebook and its dataset.", no_args_is_help=True)


@app.command(cls=Command)
def build(
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Folder for notebook.ipynb, kernel-metadata.json, dataset/.")
    ],
    owner: Annotated[str, typer.Option(help="Your Kaggle username (dataset and kernel ids); required.")],
    checkpoint: CheckpointFile = None,
    config: Annotated[Path | None, typer.Option(help="SolveConfig YAML (default: configs/kaggle-4xl4.yaml).")] = None,
    overrides: Overrides = None,
    time_budget: TimeBudget = "11h30m",
    wheels: Annotated[
        str,
        typer.Option(
            help="Where dependency wheels come from: pypi, installed (repacked from this environment, offline) "
            "or a folder of wheels."
        ),
    ] = "pypi",
    competition: Annotated[str, typer.Option(help="The competition's slug on Kaggle.")] = "arc-prize-2025",
    interactive_budget: Annotated[
        str,
        typer.Option(
            help="The budget when Kaggle runs the notebook outside a competition rerun (an interactive Save Version, "
            "on the placeholder tasks): 10m, or 'full' for the whole --time-budget."
        ),
    ] = "10m",
) -> None:
    """Write OUT/notebook.ipynb and OUT/dataset/ (upload as the dataset `arc-trm`) for an offline Kaggle run.

    --checkpoint is shipped in the dataset; --time-budget counts from the notebook's start."""
    from arc_trm.kaggle import notebook as kaggle_lib  # torch: imported by the commands that need it

    console = Console()
    with input_errors(console):
        budget = parse_duration(time_budget)
        interactive = None if interactive_budget == "full" else parse_duration(interactive_budget)
        cfg = config or repo_config("kaggle-4xl4.yaml")
        if cfg is None or not Path(cfg).is_file():
            raise FileNotFoundError(f"{cfg or 'configs/kaggle-4xl4.yaml'}: config file not found (pass --config)")
        kaggle_lib.build(out, cfg, checkpoint, budget, overrides or [], wheels, owner, competition, interactive)
    shipped = sorted(p.name for p in (out / "dataset" / "wheels").glob("*.whl"))
    console.print(
        f"{out}: notebook.ipynb, kernel-metadata.json, dataset/ ({len(shipped)} wheels: {', '.join(shipped)}"
        f"{'; checkpoint ' + checkpoint.name if checkpoint else ''}); budget {format_duration(budget)}"
    )
    console.print(f"upload: kaggle datasets create -p {out / 'dataset'}; then kaggle kernels push -p {out}")
