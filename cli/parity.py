"""`arc-trm parity`: replay an official reference fixture through our model and compare."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from arc_trm_cli.options import Device, Quiet, input_errors

if TYPE_CHECKING:
    from arc_trm.model.parity import ParityReport


def parity(
    fixture_dir: Annotated[
        Path,
        typer.Argument(metavar="FIXTURE_DIR", help="A fixture folder (config.json, checkpoint.pt, batch.npz, ...)."),
    ],
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write our outputs, under the fixture's keys, to this .npz.")
    ] = None,
    device: Device = None,
    cuda_dtype: Annotated[
        str, typer.Option(help="On CUDA: float32 (parity) or bfloat16 (autocast, report only).")
    ] = "float32",
    quiet: Quiet = False,
) -> None:
    """Import FIXTURE_DIR's official checkpoint, replay its batch (every ACT step in eval mode, the first in train
    mode with loss and gradients) and compare with the official outputs. Exit 0 only within tolerance."""
    console = Console()
    from arc_trm.model.parity import run_parity  # torch: imported by the commands that need it

    with input_errors(console):
        report = run_parity(fixture_dir, device or "auto", cuda_dtype)
    if not quiet:
        console.print(_table(report))
    if out is not None:
        console.print(f"our outputs written to {report.dump(out)}")
    failed = [c for c in report.checks if not c.ok]
    if failed:
        name, total = report.fixture.name, len(report.checks)
        console.print(f"[red]FAIL[/] {name}: {len(failed)} of {total} checks out of tolerance")
        raise typer.Exit(1)
    console.print(f"[green]PASS[/] {report.fixture.name} ({report.arch}): all {len(report.checks)} checks in tolerance")


def _table(report: ParityReport, rows: int = 12) -> Table:
    table = Table(title=f"parity: {report.fixture.name} ({report.arch}), largest differences relative to tolerance")
    for column in ("key", "measure", "difference", "tolerance", "ok"):
        table.add_column(column, justify="left" if column == "key" else "right", overflow="fold")
    worst = report.worst()
    shown = worst[:rows] + [c for c in worst[rows:] if not c.ok]
    for check in shown:
        key = check.key.removeprefix("model.inner.") + (f" ({check.detail})" if check.detail else "")
        ok = "yes" if check.ok else "[red]NO[/]"
        table.add_row(key, check.kind, f"{check.diff:.3g}", f"{check.tolerance:.3g}", ok)
    table.caption = "gradients are named as in the official model, without 'model.inner.'"
    if len(shown) < len(worst):
        table.caption += f"; {len(worst) - len(shown)} more checks, all within tolerance"
    return table
