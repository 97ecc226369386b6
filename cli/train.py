"""`arc-trm train`: pretraining, the official recipe (several processes through torchrun) or a prior for solve."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from arc_trm.core.config import load_config
from arc_trm.core.durations import format_duration
from arc_trm.core.events import Evaluated, Event, Logged, Measured, Resumed, TrainDone, TrainStarted, Warned
from arc_trm_cli.options import Data, Fresh, Overrides, input_errors, repo_config


class Recipe(str, Enum):
    """The pretraining programs: their default config and run folder."""

    official = "official"  # the paper's (arc_trm.train.pretrain): configs/arc1.yaml, arc2.yaml, debug.yaml
    prior = "prior"  # the solve model's prior on per-task canvases (arc_trm.train.prior): configs/prior.yaml

    @property
    def defaults(self) -> tuple[str, str]:
        return ("arc1.yaml", "runs/arc1") if self is Recipe.official else ("prior.yaml", "runs/prior")


def train(
    recipe: Annotated[
        Recipe | None,
        typer.Option(
            case_sensitive=False,
            help="official: the paper's (configs/arc1.yaml, arc2.yaml, debug.yaml); prior: a prior "
            "for solve (configs/prior.yaml). Required, except with --official.",
        ),
    ] = None,
    config: Annotated[
        Path | None, typer.Option(help="YAML config of the recipe (default: configs/arc1.yaml, or configs/prior.yaml).")
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="Run folder: config, metrics, checkpoints, resume state (default: runs/arc1, or runs/prior "
            "for a prior).",
        ),
    ] = None,
    overrides: Overrides = None,
    stop_at: Annotated[int | None, typer.Option(help="Stop (state saved) after this step; run again to go on.")] = None,
    fresh: Fresh = False,
    official: Annotated[
        Path | None,
        typer.Option(
            metavar="ALL_CONFIG",
            help="Train as an official run's all_config.yaml says (with --data), instead of --config.",
        ),
    ] = None,
    data: Data = None,
) -> None:
    """Pretrain TRM on the ARC tasks of the config (resumes the run in --out when it holds one).

    --recipe picks the program: official, the paper's (every example on 30 x 30, data-parallel; several GPUs
    or nodes: torchrun --nproc-per-node N --no-python arc-trm train --recipe official --config ... --out
    RUN_DIR), or prior, the solve model on per-task canvases (configs/prior.yaml, one process). With --official
    and --data, the run an official all_config.yaml describes, on that data build (docs/reproduce.md).
    """
    console = Console()
    if official is not None or data is not None:
        with input_errors(console):
            if official is None or data is None or config is not None:
                raise ValueError("--official ALL_CONFIG and --data DATA go together, without --config")
            if recipe is Recipe.prior:
                raise ValueError("--official ALL_CONFIG trains the official recipe, not --recipe prior")
            from arc_trm.data.dataset import read_build  # torch: imported by the commands that need it
            from arc_trm.train.pretrain import from_official
            from arc_trm.train.pretrain import train as run_training

            cfg = from_official(official, read_build(data), overrides or [])
            out = out or Path("runs/official")
            run_training(cfg, out, on_event=_Printer(console, out).event, stop_at=stop_at, fresh=fresh)
        return
    with input_errors(console):
        if recipe is None:
            raise ValueError(
                "name the recipe: --recipe official (the paper's: configs/arc1.yaml, arc2.yaml, "
                "debug.yaml) or --recipe prior (configs/prior.yaml)"
            )
        path, out = config or repo_config(recipe.defaults[0]), out or Path(recipe.defaults[1])
        printer = _Printer(console, out)
        if recipe is Recipe.prior:
            from arc_trm.train.prior import PriorConfig, train_prior  # torch: imported by the commands that need it

            prior = load_config(PriorConfig, path, overrides or [])
            train_prior(prior, out, printer.event, stop_at=stop_at, fresh=fresh)
            return
        from arc_trm.train.pretrain import TrainConfig
        from arc_trm.train.pretrain import train as run_training

        cfg = load_config(TrainConfig, path, overrides or [])
        run_training(cfg, out, on_event=printer.event, stop_at=stop_at, fresh=fresh)


class _Printer:
    """Rank 0's console: the run's size, one line per logging step and per evaluation."""

    def __init__(self, console: Console, out: Path):
        self.console, self.out = console, out

    def event(self, event: Event) -> None:
        c = self.console
        match event:
            case TrainStarted(recipe="official", device=device, size=info):
                c.print(
                    f"[bold]cost model[/] ({info['world']} process(es), {device}): "
                    f"{info['params']:,} parameters + a {info['puzzle_table']:,}-value puzzle table; "
                    f"{info['tokens_per_step']:,} tokens and {info['flops_per_step']:.3g} FLOPs per step; "
                    f"{info['groups']} tasks in {info['versions']:,} versions, "
                    f"{info['steps_per_epoch']:.1f} steps per epoch, {info['total_steps']:,} steps in all"
                )
            case TrainStarted(device=device, size=info):
                c.print(
                    f"[bold]prior[/] on {device}: {info['tasks']} tasks in {info['versions']:,} versions, "
                    f"{sum(info['examples'].values()):,} examples on {len(info['examples'])} canvas sides; "
                    f"{info['held_out']} tasks' test pairs held out (copying the input: "
                    f"{100 * info['copy_cell_accuracy']:.1f}% right cells)"
                )
            case Measured():
                c.print(
                    f"[bold]measured[/] {event.seconds_per_step:.3f} s per step ({event.tflops:.3g} TFLOP/s "
                    f"per process): about {format_duration(event.epoch_seconds)} per epoch, "
                    f"{format_duration(event.run_seconds)} for the rest of the run"
                )
            case Resumed(step=step, epoch=epoch):
                at = f" (epoch {epoch:.2f})" if epoch is not None else ""
                c.print(f"resumed at step {step:,}{at} from {self.out}")
            case Logged(record=r) if "epoch" in r:
                c.print(
                    f"step {r['step']:>7,} ep {r['epoch']:8.2f} | loss {r['loss']:.4f} "
                    f"lm {r['lm_loss']:.4f} q {r['q_halt_loss']:.4f} | acc {r['accuracy']:.3f} "
                    f"exact {r['exact_accuracy']:.3f} halt {r['halt_steps']:.1f} | lr {r['lr']:.2e} | "
                    f"{r['step_seconds']:.3f} s/step",
                    highlight=False,
                )
            case Logged(record=r):
                c.print(
                    f"step {r['step']:>7,} | loss {r['loss']:.4f} | acc {r['accuracy']:.3f} "
                    f"exact {r['exact']:.3f} | {r['step_seconds']:.3f} s/step",
                    highlight=False,
                )
            case Evaluated(record=r, checkpoint=path):
                cells = f", right cells {100 * r['cell_accuracy']:.1f}%" if "cell_accuracy" in r else ""
                c.print(
                    f"[bold green]eval[/] step {r['step']:,}: pass@1 {100 * r['pass@1']:.2f}% "
                    f"pass@2 {100 * r['pass@2']:.2f}%{cells} ({format_duration(r['eval_seconds'])}); "
                    f"checkpoint {path}"
                )
                if not r.get("ranks_in_sync", True):
                    c.print(
                        f"[red]warning:[/] the ranks' weights differ at step {r['step']} (digests in metrics.jsonl)"
                    )
            case Warned(text=text):
                c.print(f"[yellow]warning:[/] {text}")
            case TrainDone(step=step, finished=finished):
                state = "finished" if finished else "stopped (run the same command to go on)"
                c.print(f"{state} at step {step:,}; metrics in {self.out / 'metrics.jsonl'}")
