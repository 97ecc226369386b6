"""`arc-trm train --official` against the official pretraining: the lm-loss and token-accuracy curves of our runs
set against the spread of the official code's own runs (other training seeds, same data and config).

    python -m benchmarks.train_curves --official A/train_log.json B/train_log.json ... \
        --ours runs/curves/ours-seed11 runs/curves/ours-seed1 ... --plot docs/train_curves.png

Official runs: `train_log.json` of `tools/official_eval_fixture.py` (one record per step, the official metric
names); ours: a run folder's metrics.jsonl written with `--set log_every=1`. The metrics mean the same on both
sides: lm_loss is summed over every row of the global batch and divided by its size; token accuracy is over the
rows that halted at that step (steps where none halted are left out of it). Each curve is cut into windows of
`--window` steps; a window of ours is inside when its mean lies within the official runs' range for that
window, and the same share is computed for each official run against the others (leave one out), so that
ours is judged against what the official code's own seed-to-seed spread gives. Writes
benchmarks/results/train_curves.json.
"""

from __future__ import annotations

import argparse
import datetime
import json
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def official_curve(path: Path) -> dict[str, np.ndarray]:
    log = json.loads(path.read_text())
    return {
        "step": np.array([r["step"] for r in log]),
        "lm_loss": np.array([r["train/lm_loss"] for r in log]),
        "accuracy": np.array([r["train/accuracy"] for r in log]),
        "halted": np.array([r["train/count"] for r in log]),
    }


def our_curve(run: Path) -> dict[str, np.ndarray]:
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]
    train = [r for r in records if r.get("kind") == "train"]
    return {
        "step": np.array([r["step"] for r in train]),
        "lm_loss": np.array([r["lm_loss"] for r in train]),
        "accuracy": np.array([r["accuracy"] for r in train]),
        "halted": np.array([r["halted"] for r in train]),
    }


def windows(curve: dict[str, np.ndarray], size: int, steps: int) -> dict[str, list[float]]:
    """Per window of `size` steps: the mean lm loss, and the mean accuracy over steps where some row halted."""
    out: dict[str, list[float]] = {"lm_loss": [], "accuracy": []}
    for start in range(1, steps + 1, size):
        inside = (curve["step"] >= start) & (curve["step"] < start + size)
        out["lm_loss"].append(float(curve["lm_loss"][inside].mean()))
        halted = inside & (curve["halted"] > 0)
        out["accuracy"].append(float(curve["accuracy"][halted].mean()) if halted.any() else float("nan"))
    return out


def share_inside(run: np.ndarray, others: np.ndarray) -> float:
    """The share of a run's windows that lie within the range (min to max) of other runs' same windows."""
    low, high = np.nanmin(others, 0), np.nanmax(others, 0)
    return float(np.mean((low <= run) & (run <= high)))


def compare(official: list[dict], ours: list[dict], size: int, steps: int) -> dict:
    """Per metric: each of our runs' share of windows inside the official runs' range, against the same share
    of each official run inside the range of the other official runs (leave one out: what a run of the
    official code itself gets, for the same number of other runs); and our mean's distance to the official
    mean in official standard deviations, per window."""
    result = {"window": size, "steps": steps, "official_runs": len(official), "our_runs": len(ours), "metrics": {}}
    for metric in ("lm_loss", "accuracy"):
        table = np.array([windows(c, size, steps)[metric] for c in official])
        mine = np.array([windows(c, size, steps)[metric] for c in ours])
        others = [np.delete(table, i, 0) for i in range(len(table))]
        sd = np.nanstd(table, 0, ddof=1) if len(table) > 1 else np.full(table.shape[1], np.nan)
        result["metrics"][metric] = {
            "official": table.tolist(),
            "ours": mine.tolist(),
            "ours_inside_official_range": [share_inside(run, table) for run in mine],
            "official_inside_others_range": [
                share_inside(table[i], others[i][: len(table) - 1]) for i in range(len(table))
            ]
            if len(table) > 2
            else None,
            "ours_inside_range_of_as_many": [share_inside(run, table[: len(table) - 1]) for run in mine],
            "z_of_our_mean": ((mine.mean(0) - table.mean(0)) / sd).tolist(),
        }
    return result


def plot(official: list[dict], ours: list[dict], names: list[str], size: int, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, metric in zip(axes, ("lm_loss", "accuracy")):
        for i, curve in enumerate(official):
            ax.plot(*_smoothed(curve, metric, size), color="grey", lw=1, label="official runs" if i == 0 else None)
        for curve, name in zip(ours, names):
            ax.plot(*_smoothed(curve, metric, size), lw=1.5, label=f"arc-trm {name}")
        ax.set_xlabel("step")
        ax.set_title(f"{metric} ({size}-step moving mean)")
    axes[0].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def _smoothed(curve: dict[str, np.ndarray], metric: str, size: int) -> tuple[np.ndarray, np.ndarray]:
    keep = curve["halted"] > 0 if metric == "accuracy" else np.ones(len(curve["step"]), bool)
    values, steps = curve[metric][keep], curve["step"][keep]
    kernel = np.ones(size) / size
    return steps[size - 1 :], np.convolve(values, kernel, mode="valid")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--official", type=Path, nargs="+", required=True, help="official train_log.json files")
    parser.add_argument("--ours", type=Path, nargs="+", required=True, help="our run folders (log_every=1)")
    parser.add_argument("--window", type=int, default=25)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "train_curves.json")
    parser.add_argument("--plot", type=Path, default=None)
    args = parser.parse_args()
    official = [official_curve(p) for p in args.official]
    ours = [our_curve(p) for p in args.ours]
    result = {
        "benchmark": "train_curves",
        "date": datetime.date.today().isoformat(),
        "official": [str(p) for p in args.official],
        "ours": [str(p) for p in args.ours],
        **compare(official, ours, args.window, args.steps),
    }
    args.out.write_text(json.dumps(result, indent=1))
    for metric, m in result["metrics"].items():
        own = m["official_inside_others_range"]
        print(
            f"{metric}: our windows inside the range of the {len(official)} official runs: "
            f"{[round(x, 2) for x in m['ours_inside_official_range']]}; inside the range of {len(official) - 1} of "
            f"them: {[round(x, 2) for x in m['ours_inside_range_of_as_many']]}, where each official run is inside "
            f"the others' range: {[round(x, 2) for x in own] if own else 'n/a'}; our mean's z per window "
            f"{[round(z, 1) for z in m['z_of_our_mean']]}"
        )
    if args.plot:
        plot(official, ours, [p.name for p in args.ours], args.window, args.plot)
        print(f"wrote {args.plot}")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
