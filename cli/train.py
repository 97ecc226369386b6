"""`arc-trm train`: pretraining with the official recipe; several processes through torchrun."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

from arc_trm.budget import format_duration
from arc_trm.config import load_config
from arc_trm_cli.options import Overrides, input_errors, repo_config



def train(
    config: Annotated[Optional[Path], typer.Option(help="YAML config (default: configs/arc1.yaml).")] = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="Run folder: config, metrics, checkpoints, resume state.")] = Path(
        "runs/arc1"),
    overrides: Overrides = None,
    stop_at: Annotated[Optional[int], typer.Option(help="Stop (state saved) after this step; run again to go on.")] = None,
    fresh: Annotated[bool, typer.Option(metavar="", help="Discard the saved state in --out and start over.")] = False,
) -> None:
    """Pretrain TRM on the ARC tasks of the config (resumes the run in --out when it holds one).

    Several GPUs or nodes: torchrun --nproc-per-node N --no-python arc-trm train --config ... --out RUN_DIR
    """
    console = Console()
    from arc_trm.train import TrainConfig, train as run_training  # torch: imported by the commands that need it

    with input_errors(console):
        cfg = load_config(TrainConfig, config or repo_config("arc1.yaml"), overrides or [])
        run_training(cfg, out, on_event=_Printer(console, out).event, stop_at=stop_at, fresh=fresh)


class _Printer:
    """Rank 0's console: the cost model, one line per logging step and per evaluation."""

    def __init__(self, console: Console, out: Path):
        self.console, self.out = console, out

    def event(self, name: str, **info) -> None:
        c = self.console
        if name == "cost":
            c.print(f"[bold]cost model[/] ({info['world']} process(es), {info['device']}): "
                    f"{info['params']:,} parameters + a {info['puzzle_table']:,}-value puzzle table; "
                    f"{info['tokens_per_step']:,} tokens and {info['flops_per_step']:.3g} FLOPs per step; "
                    f"{info['groups']} tasks in {info['versions']:,} versions, "
                    f"{info['steps_per_epoch']:.1f} steps per epoch, {info['total_steps']:,} steps in all")
        elif name == "measured":
            c.print(f"[bold]measured[/] {info['seconds_per_step']:.3f} s per step ({info['tflops']:.3g} TFLOP/s "
                    f"per process): about {format_duration(info['epoch_seconds'])} per epoch, "
                    f"{format_duration(info['run_seconds'])} for the rest of the run")
        elif name == "resumed":
            c.print(f"resumed at step {info['step']:,} (epoch {info['epoch']:.2f}) from {self.out / 'resume'}")
        elif name == "log":
            c.print(f"step {info['step']:>7,} ep {info['epoch']:8.2f} | loss {info['loss']:.4f} "
                    f"lm {info['lm_loss']:.4f} q {info['q_halt_loss']:.4f} | acc {info['accuracy']:.3f} "
                    f"exact {info['exact_accuracy']:.3f} halt {info['halt_steps']:.1f} | lr {info['lr']:.2e} | "
                    f"{info['step_seconds']:.3f} s/step", highlight=False)
        elif name == "eval":
            c.print(f"[bold green]eval[/] step {info['step']:,}: pass@1 {100 * info['pass@1']:.2f}% "
                    f"pass@2 {100 * info['pass@2']:.2f}% on {info['tasks']} tasks "
                    f"({format_duration(info['eval_seconds'])}); checkpoint {self.out}/checkpoints/step_{info['step']}.pt")
            if not info["ranks_in_sync"]:
                c.print(f"[red]warning:[/] the ranks' weights differ at step {info['step']} (digests in metrics.jsonl)")
        elif name == "warning":
            c.print(f"[yellow]warning:[/] {info['text']}")
        elif name == "done":
            state = "finished" if info["finished"] else "stopped (run the same command to go on)"
            c.print(f"{state} at step {info['step']:,}; metrics in {self.out / 'metrics.jsonl'}")
