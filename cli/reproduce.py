"""`arc-trm reproduce`: evaluate a pretrained TRM checkpoint exactly as the official code does."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from arc_trm_cli.options import Data, Device, Ids, Limit, Quiet, id_list, input_errors


def reproduce(
    ckpt: Annotated[
        Path,
        typer.Argument(
            metavar="CKPT",
            help="An official step file with its run's all_config.yaml beside it, or a checkpoint of ours.",
        ),
    ],
    data: Data = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="Run folder: submission, scores, rows, report.")] = Path(
        "runs/reproduce"
    ),
    ids: Ids = None,
    limit: Limit = None,
    device: Device = None,
    batch: Annotated[
        int | None,
        typer.Option(min=1, help="Rows per batch (default: the run's global_batch_size, as the official evaluation)."),
    ] = None,
    quiet: Quiet = False,
) -> None:
    """Evaluate CKPT on the held-out test pairs of its data build as the official TRM evaluation does: every
    test input in every version for N_sup steps, the official vote, pass@1..1000 and the submission. --data
    is required for an official step file; a checkpoint of ours defaults to its run's data.

        arc-trm reproduce arc_v1_public/step_518071 --data arc1 --out runs/reproduce-arc1
        arc-trm reproduce step_300 --data data.yaml --out runs/fixture --limit 2 --device cpu
    """
    from arc_trm.eval.reproduce import reproduce as run  # torch: imported by the commands that need it

    console = Console()
    columns = TextColumn("rows"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()
    with Progress(*columns, console=console, disable=quiet) as progress, input_errors(console):
        bar = progress.add_task("rows", total=None)

        def on_event(name: str, value: int) -> None:
            if name == "rows":
                progress.update(bar, total=value)
                if quiet:
                    console.print(f"{value:,} rows to run")
            else:
                progress.advance(bar, value)

        result = run(ckpt, data, out, id_list(ids), limit, device or "auto", batch, on_event)
    console.print(result.summary())
    console.print(result.scores.summary())
    console.print(f"run folder {out}: submission.json, scores.json, rows.npz, report.html")
