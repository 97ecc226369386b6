"""The recursion ablation: TRM against a deeper network without recursion, at equal compute per supervision step.

    python -m benchmarks.ablation [--steps 1000] [--seeds 0,1] [--variants trm,deep,single] [--smoke] [--out DIR]

Task: generated 6 x 6 Sudoku (2 x 3 boxes) with `--blanks` empty cells, a fixed training set of `--train`
puzzles (digits relabelled at random in every batch) and held-out test puzzles. A test puzzle counts as
solved when the predicted grid keeps every given digit and is a valid Sudoku (any valid completion counts).

Variants, with the same network width and the same number of block applications per supervision step,
F = T (n + 1) L (the TRM's T cycles of n latent updates and one answer update through its L-layer network):

    trm     T, n, L as configured; N_sup supervision steps, the answer y and latent z carried between them
    deep    no recursion: one pass y = net(y, x) through F layers per supervision step, y carried (same N_sup)
    single  a single-pass network: the same F layers once (N_sup = 1), no carry, no deep supervision
    trm1    (optional) TRM with N_sup = 1: its recursion without deep supervision

Compute is counted, not timed (the CPU is shared): every variant trains the same number of optimiser steps
on the same batches, and FLOPs are counted from the layer shapes (forward + 2x forward for backward, which
TRM skips for its first T - 1 cycles). Test accuracy is measured with N_sup supervision steps for all but
`single`. Writes ablation.json (every run's curve, updated as runs finish) and ablation.png; prints a table.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch

from arc_trm.model import TRM, TRMConfig
from arc_trm.model.cost import step_flops
from arc_trm.model.losses import act_loss
from arc_trm.ttt.optim import AdamATan2, lr_at

RESULTS = Path(__file__).resolve().parent / "results"
SIDE, BOX = 6, (2, 3)  # 6 x 6 grid, boxes of 2 rows x 3 columns
BLANK = 1  # token of an empty cell; digit d (1..6) is token d + 1, 0 is padding


@dataclasses.dataclass
class Setup:
    """The ablation's settings (the base TRM and the training run shared by every variant)."""

    hidden_size: int = 64
    num_heads: int = 2
    num_layers: int = 2  # L
    T: int = 2
    n: int = 2
    N_sup: int = 4
    steps: int = 1000
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 0.1
    warmup_steps: int = 100
    train: int = 1000  # training puzzles
    test: int = 300  # held-out puzzles
    blanks: int = 18
    eval_every: int = 250


# ------------------------------------------------------------------------------------------------ puzzles


def solution(rng: np.random.Generator) -> np.ndarray:
    """A random valid 6 x 6 Sudoku: a base pattern with digits, rows within bands, bands, columns within
    stacks and stacks shuffled."""
    r, c = BOX
    base = np.array([[(c * (i % r) + i // r + j) % SIDE for j in range(SIDE)] for i in range(SIDE)])
    rows = np.concatenate([band * r + rng.permutation(r) for band in rng.permutation(SIDE // r)])
    cols = np.concatenate([stack * c + rng.permutation(c) for stack in rng.permutation(SIDE // c)])
    return rng.permutation(SIDE)[base[rows][:, cols]] + 1


def puzzles(count: int, blanks: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(inputs, labels) as tokens (count, 36): the puzzle with `blanks` empty cells, and its solution."""
    rng = np.random.default_rng(seed)
    inputs, labels = [], []
    for _ in range(count):
        grid = solution(rng).flatten()
        puzzle = grid + 1
        puzzle[rng.choice(SIDE * SIDE, blanks, replace=False)] = BLANK
        inputs.append(puzzle)
        labels.append(grid + 1)
    return np.stack(inputs), np.stack(labels)


def valid(inputs: np.ndarray, preds: np.ndarray) -> np.ndarray:
    """(B,) bool: the predicted grid keeps the givens and every row, column and box holds each digit once."""
    r, c = BOX
    givens = inputs != BLANK
    keeps = ((preds == inputs) | ~givens).all(-1)
    grids = preds.reshape(-1, SIDE, SIDE) - 1
    digits = set(range(1, SIDE + 1))

    def ok(grid: np.ndarray) -> bool:
        boxes = [grid[i : i + r, j : j + c].flatten() for i in range(0, SIDE, r) for j in range(0, SIDE, c)]
        return all(set(line.tolist()) == digits for line in [*grid, *grid.T, *boxes])

    return keeps & np.array([ok(g) for g in grids])


def relabel(inputs: np.ndarray, labels: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """The same puzzles with their digits permuted (one random permutation per puzzle)."""
    table = np.zeros((len(inputs), SIDE + 2), np.int64)
    table[:, BLANK] = BLANK
    table[:, 2:] = np.stack([rng.permutation(SIDE) for _ in inputs]) + 2
    rows = np.arange(len(inputs))[:, None]
    return table[rows, inputs], table[rows, labels]


# ------------------------------------------------------------------------------------------------ variants


def variant_config(name: str, s: Setup) -> TRMConfig:
    """The model of a variant; every one applies F = T (n + 1) L blocks per supervision step."""
    depth = s.T * (s.n + 1) * s.num_layers
    base = TRMConfig(
        vocab_size=SIDE + 2,
        seq_len=SIDE * SIDE,
        puzzle_emb_dim=0,
        puzzle_emb_len=1,
        hidden_size=s.hidden_size,
        num_heads=s.num_heads,
        num_layers=s.num_layers,
        T=s.T,
        n=s.n,
        N_sup=s.N_sup,
    )
    if name == "trm":
        return base
    if name == "deep":
        return dataclasses.replace(base, recursion=False, num_layers=depth, T=1, n=0)
    if name == "single":
        return dataclasses.replace(base, recursion=False, num_layers=depth, T=1, n=0, N_sup=1)
    if name == "trm1":  # the recursion without deep supervision: a fresh batch every step, as `single` gets
        return dataclasses.replace(base, N_sup=1)
    raise ValueError(f"unknown variant {name!r} (expected trm, deep, single or trm1)")


def flops_per_step(config: TRMConfig, batch: int) -> dict[str, float]:
    """Forward and training FLOPs of one supervision step on a batch (counted as benchmarks.throughput does)."""
    return step_flops(config, batch, config.seq_len + config.prefix_len)


# ------------------------------------------------------------------------------------------------ training


def evaluate(model: TRM, inputs: np.ndarray, labels: np.ndarray, batch: int = 250) -> dict[str, float]:
    """Roll out N_sup supervision steps (no early halting); solved share and accuracy on the blank cells."""
    model.eval()
    solved, right, blanks = 0, 0, 0
    with torch.no_grad():
        for i in range(0, len(inputs), batch):
            x = torch.from_numpy(inputs[i : i + batch])
            data = {
                "inputs": x,
                "labels": torch.from_numpy(labels[i : i + batch]),
                "puzzle_ids": torch.zeros(len(x), dtype=torch.long),
            }
            carry = model.initial_carry(data)
            for _ in range(model.config.N_sup):
                carry, outputs = model(carry, data)
            preds = outputs["logits"].argmax(-1).numpy()
            solved += int(valid(inputs[i : i + batch], preds).sum())
            empty = inputs[i : i + batch] == BLANK
            right += int(((preds == labels[i : i + batch]) & empty).sum())
            blanks += int(empty.sum())
    model.train()
    return {"solved": solved / len(inputs), "blank_accuracy": right / blanks}


def train_run(name: str, seed: int, s: Setup, log=print) -> dict:
    """Train one variant with one seed; its curve of test accuracy against steps and FLOPs."""
    config = variant_config(name, s)
    train_x, train_y = puzzles(s.train, s.blanks, seed=1000 + seed)
    test_x, test_y = puzzles(s.test, s.blanks, seed=999)  # the same test puzzles for every run
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = TRM(config)
    optimiser = AdamATan2(model.parameters(), lr=s.lr, betas=(0.9, 0.95), weight_decay=s.weight_decay)
    flops = flops_per_step(config, s.batch_size)
    curve, carry = [], None
    for step in range(1, s.steps + 1):
        rows = rng.choice(len(train_x), s.batch_size, replace=False)
        x, y = relabel(train_x[rows], train_y[rows], rng)
        batch = {
            "inputs": torch.from_numpy(x),
            "labels": torch.from_numpy(y),
            "puzzle_ids": torch.zeros(s.batch_size, dtype=torch.long),
        }
        carry = carry or model.initial_carry(batch)
        carry, outputs = model(carry, batch)
        loss = act_loss(outputs, carry.data["labels"])
        (loss.loss / s.batch_size).backward()
        for group in optimiser.param_groups:
            group["lr"] = lr_at(step, s.lr, s.warmup_steps, s.steps)
        optimiser.step()
        optimiser.zero_grad(set_to_none=True)
        if step % s.eval_every == 0 or step == s.steps:
            point = {
                "step": step,
                "train_flops": step * flops["train"],
                "loss": loss.loss.item() / s.batch_size,
                **evaluate(model, test_x, test_y),
            }
            curve.append(point)
            log(
                f"{name} seed {seed} step {step}: test solved {point['solved']:.3f}, "
                f"blank-cell accuracy {point['blank_accuracy']:.3f}, loss {point['loss']:.3f}"
            )
    return {
        "variant": name,
        "seed": seed,
        "params": sum(p.numel() for p in model.parameters()),
        "layers": config.num_layers,
        "T": config.T,
        "n": config.n,
        "N_sup": config.N_sup,
        "recursion": config.recursion,
        "forward_flops_per_step": flops["forward"],
        "train_flops_per_step": flops["train"],
        "curve": curve,
        "final": curve[-1],
    }


# ------------------------------------------------------------------------------------------------ output


def summary(runs: list[dict]) -> list[dict]:
    """Per variant: mean and spread over seeds of the final test numbers."""
    rows = []
    for name in dict.fromkeys(r["variant"] for r in runs):
        mine = [r for r in runs if r["variant"] == name]
        solved = [r["final"]["solved"] for r in mine]
        accuracy = [r["final"]["blank_accuracy"] for r in mine]
        first = mine[0]
        rows.append(
            {
                "variant": name,
                "layers": first["layers"],
                "T": first["T"],
                "n": first["n"],
                "N_sup": first["N_sup"],
                "params": first["params"],
                "seeds": len(mine),
                "forward_flops_per_step": first["forward_flops_per_step"],
                "train_flops_per_step": first["train_flops_per_step"],
                "solved_mean": float(np.mean(solved)),
                "solved_min": min(solved),
                "solved_max": max(solved),
                "blank_accuracy_mean": float(np.mean(accuracy)),
            }
        )
    return rows


def table(rows: list[dict], steps: int) -> str:
    lines = [
        "| variant | layers | T | n | N_sup | params | fwd GFLOP/step | train GFLOP/step | seeds "
        f"| test solved after {steps} steps (min-max) | blank-cell accuracy |",
        "|---" * 11 + "|",
    ]
    for r in rows:
        lines.append(
            f"| {r['variant']} | {r['layers']} | {r['T']} | {r['n']} | {r['N_sup']} | {r['params'] / 1e3:.0f}k "
            f"| {r['forward_flops_per_step'] / 1e9:.2f} | {r['train_flops_per_step'] / 1e9:.2f} "
            f"| {r['seeds']} | {100 * r['solved_mean']:.1f}% ({100 * r['solved_min']:.1f}-"
            f"{100 * r['solved_max']:.1f}) | {100 * r['blank_accuracy_mean']:.1f}% |"
        )
    return "\n".join(lines)


def plot(runs: list[dict], path: Path) -> None:
    """Test puzzles solved and blank cells right, against training steps and training FLOPs, a line per run."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colours = {"trm": "#0074D9", "deep": "#FF4136", "single": "#2ECC40", "trm1": "#B10DC9"}
    fig, axes = plt.subplots(2, 2, figsize=(11, 7), sharex="col", sharey="row")
    first = min(r["seed"] for r in runs)
    for run in runs:
        steps = [p["step"] for p in run["curve"]]
        flops = [p["train_flops"] / 1e12 for p in run["curve"]]
        style = "-" if run["seed"] == first else "--"
        colour = colours.get(run["variant"], "#AAAAAA")
        for row, key in enumerate(("solved", "blank_accuracy")):
            values = [100 * p[key] for p in run["curve"]]
            axes[row, 0].plot(steps, values, style, color=colour, label=f"{run['variant']} (seed {run['seed']})")
            axes[row, 1].plot(flops, values, style, color=colour)
    axes[1, 0].set_xlabel("optimiser steps (equal forward FLOPs per step)")
    axes[1, 1].set_xlabel("training TFLOPs (counted)")
    axes[0, 0].set_ylabel("held-out 6x6 Sudoku solved (%)")
    axes[1, 0].set_ylabel("blank cells right (%)")
    for ax in axes.flat:
        ax.grid(alpha=0.3)
    axes[0, 0].legend(fontsize=8)
    fig.suptitle("Recursion ablation: TRM vs no recursion (deep) vs single pass, equal compute per supervision step")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=Setup.steps)
    parser.add_argument("--seeds", default="0,1", help="comma-separated seeds")
    parser.add_argument("--variants", default="trm,deep,single")
    parser.add_argument("--smoke", action="store_true", help="a few steps of tiny runs (checks the script)")
    parser.add_argument("--resume", action="store_true", help="keep finished runs of the JSON in --out")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    s = Setup(steps=args.steps)
    if args.smoke:
        s = Setup(hidden_size=16, steps=4, batch_size=8, train=32, test=16, eval_every=2, N_sup=2)
    seeds = [int(x) for x in args.seeds.split(",")]
    variants = args.variants.split(",")
    for name in variants:
        variant_config(name, s)  # an unknown variant fails before any training
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "ablation.json"
    done = json.loads(path.read_text())["runs"] if args.resume and path.exists() else []
    runs = [r for r in done if r["variant"] in variants and r["seed"] in seeds]
    for seed in seeds:  # every variant's first seed first: a cut-short run still compares them
        for name in variants:
            if any(r["variant"] == name and r["seed"] == seed for r in runs):
                continue
            start = time.process_time()
            run = train_run(name, seed, s)
            run["cpu_seconds"] = time.process_time() - start
            runs.append(run)
            _save(path, s, runs)  # after every run: a stopped ablation keeps what it finished
    _save(path, s, runs)
    print(table(summary(runs), s.steps))
    plot(runs, args.out / "ablation.png")
    print(f"written: {path}, {args.out / 'ablation.png'}")


def _save(path: Path, s: Setup, runs: list[dict]) -> None:
    result = {
        "benchmark": "ablation",
        "setup": dataclasses.asdict(s),
        "machine": _machine(),
        "summary": summary(runs),
        "runs": runs,
    }
    path.write_text(json.dumps(result, indent=1))


def _machine() -> dict:
    return {
        "cpu": platform.processor() or platform.machine(),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
    }


if __name__ == "__main__":
    main()
