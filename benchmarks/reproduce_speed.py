"""`reproduce` against the official evaluation loop, at the same shapes and batches, in one process: rows per
second, and whether the two computed the same rows. Writes benchmarks/results/reproduce_speed.json.

    ARC_TRM_OFFICIAL=/path/to/TinyRecursiveModels taskset -c 0 python -m benchmarks.reproduce_speed

The official side is `pretrain.evaluate`'s work per batch, from the official source (ARC_TRM_OFFICIAL: a
checkout, never committed): the loss head's forward in inference mode until every row halts, then
`evaluators/arc.py`'s `ARC.update_batch` (crop, de-augment, hash, collect); its data loader and process group
are left out (no work per row). Ours is `reproduce.predict_rows` then `reproduce.rank_task` (crop, de-augment,
vote) over the same rows. Both run on one thread, alternately, `--repeats` times each; the median counts.

Cases: the shared fixture's official checkpoint on its 54 held-out rows (batch 16, as its run), float32 and
bfloat16; and the paper's ARC model (hidden 512, T=3, n=4, random weights) on 4 rows of a real task, with N_sup
cut to 1 so that a CPU measures it in seconds (every supervision step is the same work).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

from arc_trm.data.dataset import PretrainData, read_build
from arc_trm.eval import reproduce
from arc_trm.model import checkpoint

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = Path(os.environ.get("ARC_TRM_SHARED", ROOT.parent / "shared")) / "reference" / "official_eval"
OFFICIAL = Path(os.environ.get("ARC_TRM_OFFICIAL", ROOT / ".carry" / "official"))
RUN = "checkpoints/official-eval-fixture/trm-h64-seed11"


def official_side(ours_model, official_config: dict, identifiers: list[str], batch: int, step_file: Path | None = None):
    """The official loss head, loaded from `step_file` as the official `load_checkpoint` does (assign=True: the
    stored dtypes are kept) or else given our model's weights, and a function that evaluates rows as
    evaluate() does."""
    if str(OFFICIAL) not in sys.path:
        sys.path.insert(0, str(OFFICIAL))
    from dataset.common import PuzzleDatasetMetadata
    from evaluators.arc import ARC
    from models.losses import ACTLossHead
    from models.recursive_reasoning.trm import TinyRecursiveReasoningModel_ACTV1

    head = ACTLossHead(
        TinyRecursiveReasoningModel_ACTV1({**official_config, "batch_size": batch}), loss_type="stablemax_cross_entropy"
    )
    if step_file is not None:
        state = torch.load(step_file, map_location="cpu", weights_only=True)
        head.load_state_dict({k.removeprefix("_orig_mod."): v for k, v in state.items()}, assign=True)
    else:
        checkpoint.copy_to_official(ours_model, head.model.inner)
    head.eval()
    meta = PuzzleDatasetMetadata(
        pad_id=0,
        ignore_label_id=0,
        blank_identifier_id=0,
        vocab_size=12,
        seq_len=900,
        num_puzzle_identifiers=len(identifiers),
        total_groups=1,
        mean_puzzle_examples=1,
        total_puzzles=1,
        sets=["all"],
    )

    def run(rows: reproduce.Rows) -> dict[str, np.ndarray]:
        evaluator = ARC.__new__(ARC)  # its __init__ reads identifiers.json and test_puzzles.json from a folder
        evaluator.identifier_map, evaluator.blank_identifier_id = identifiers, meta.blank_identifier_id
        evaluator._local_hmap, evaluator._local_preds = {}, {}
        preds, q_halt = [], []
        with torch.inference_mode():
            for start in range(0, len(rows.puzzle_ids), batch):
                inputs = np.pad(
                    rows.inputs[start : start + batch], ((0, batch - len(rows.inputs[start : start + batch])), (0, 0))
                )
                ids = np.pad(
                    rows.puzzle_ids[start : start + batch], (0, batch - len(rows.puzzle_ids[start : start + batch]))
                )
                data = {
                    "inputs": torch.from_numpy(inputs.astype(np.int32)),
                    "labels": torch.from_numpy(inputs.astype(np.int32)),
                    "puzzle_identifiers": torch.from_numpy(ids.astype(np.int32)),
                }
                carry = head.initial_carry(data)
                while True:
                    carry, _, _, outputs, finished = head(
                        carry=carry, batch=data, return_keys={"preds", "q_halt_logits"}
                    )
                    if finished:
                        break
                evaluator.update_batch(data, outputs)
                real = ids != 0
                preds.append(outputs["preds"].numpy()[real].astype(np.uint8))
                q_halt.append(outputs["q_halt_logits"].float().numpy()[real])
        return {"preds": np.concatenate(preds), "q_halt_logits": np.concatenate(q_halt)}

    return run


def ours_side(model, data: PretrainData, groups: list[int], batch: int):
    def run(rows: reproduce.Rows) -> dict[str, np.ndarray]:
        outputs = reproduce.predict_rows(model, rows, batch, torch.device("cpu"))
        for g in groups:
            reproduce.rank_task(rows, outputs, np.flatnonzero(rows.group == g), [a for a, _ in data.groups[g].held_out])
        return outputs

    return run


def measure(name: str, ours, official, rows: reproduce.Rows, repeats: int) -> dict:
    times = {"ours": [], "official": []}
    results = {}
    for _ in range(repeats):
        for side, run in (("official", official), ("ours", ours)):
            start = time.perf_counter()
            results[side] = run(rows)
            times[side].append(time.perf_counter() - start)
    n = len(rows.puzzle_ids)
    row = {
        "case": name,
        "rows": n,
        "repeats": repeats,
        **{f"{side}_rows_per_second": n / statistics.median(t) for side, t in times.items()},
        **{f"{side}_seconds": [round(x, 3) for x in t] for side, t in times.items()},
        "identical_preds": int((results["ours"]["preds"] == results["official"]["preds"]).all(1).sum()),
        "identical_q_halt": int((results["ours"]["q_halt_logits"] == results["official"]["q_halt_logits"]).sum()),
    }
    row["speedup"] = row["ours_rows_per_second"] / row["official_rows_per_second"]
    print(json.dumps(row), flush=True)
    return row


def fixture_case(subfolder: str, repeats: int) -> dict:
    ckpt = reproduce.read_checkpoint(FIXTURE / RUN / subfolder / "step_300")
    data = PretrainData.build(read_build(FIXTURE / "data.yaml"))
    groups = data.eval_groups()
    rows = reproduce.held_out_rows(data, groups)
    import yaml

    arch = yaml.safe_load((FIXTURE / RUN / subfolder / "all_config.yaml").read_text())["arch"]
    config = {**arch, "vocab_size": 12, "seq_len": 900, "num_puzzle_identifiers": data.num_puzzle_ids, "causal": False}
    official = official_side(ckpt.model, config, data.identifiers(), ckpt.batch, ckpt.path)
    return measure(
        f"fixture {ckpt.model.config.forward_dtype}, batch {ckpt.batch}",
        ours_side(ckpt.model, data, groups, ckpt.batch),
        official,
        rows,
        repeats,
    )


def paper_case(repeats: int, batch: int = 4) -> dict:
    data = PretrainData.build(read_build(FIXTURE / "data.yaml"))
    groups = data.eval_groups()[:1]
    rows = reproduce.held_out_rows(data, groups)
    keep = np.arange(batch)
    rows = reproduce.Rows(
        rows.inputs[keep], rows.puzzle_ids[keep], rows.group[keep], rows.test_index[keep], [rows.augs[i] for i in keep]
    )
    config = {
        "batch_size": batch,
        "seq_len": 900,
        "vocab_size": 12,
        "num_puzzle_identifiers": data.num_puzzle_ids,
        "puzzle_emb_ndim": 512,
        "puzzle_emb_len": 16,
        "H_cycles": 3,
        "L_cycles": 4,
        "H_layers": 0,
        "L_layers": 2,
        "hidden_size": 512,
        "expansion": 4,
        "num_heads": 8,
        "pos_encodings": "rope",
        "halt_max_steps": 1,
        "halt_exploration_prob": 0.1,
        "forward_dtype": "float32",
        "mlp_t": False,
        "no_ACT_continue": True,
        "causal": False,
    }
    torch.manual_seed(0)
    model = checkpoint.build_model("trm", checkpoint.config_from_official({**config}, "trm"))
    official = official_side(model, config, data.identifiers(), batch)
    return measure(
        f"paper model (hidden 512, T=3, n=4), N_sup 1, batch {batch}",
        ours_side(model, data, groups, batch),
        official,
        rows,
        repeats,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "reproduce_speed.json")
    args = parser.parse_args()
    torch.set_num_threads(1)
    cases = [fixture_case("", args.repeats), fixture_case("bf16", args.repeats), paper_case(args.repeats)]
    result = {
        "benchmark": "reproduce_speed",
        "date": datetime.date.today().isoformat(),
        "machine": {
            "cpu": platform.processor() or platform.machine(),
            "threads": torch.get_num_threads(),
            "torch": torch.__version__,
            "affinity": sorted(os.sched_getaffinity(0)),
        },
        "official_source": str(OFFICIAL),
        "cases": cases,
    }
    args.out.write_text(json.dumps(result, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
