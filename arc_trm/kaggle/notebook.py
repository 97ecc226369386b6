"""`arc-trm kaggle build`: an offline Kaggle notebook and the dataset it installs and runs from.

    kaggle.build("kaggle-out", config="configs/kaggle-4xl4.yaml", checkpoint=None, time_budget=11.5 * 3600)

writes kaggle-out/notebook.ipynb, kaggle-out/kernel-metadata.json and kaggle-out/dataset/ (upload it as the
dataset `arc-trm`): wheels/ (arc-trm and the pure-Python packages it needs beyond what Kaggle's image has),
config.yaml (resolved), checkpoint/ (if given), arc-trm-dataset.json (what was baked) and dataset-metadata.json.

The notebook runs with the internet off: it pre-fills a valid submission from the challenges file with plain
Python at once, installs arc-trm from the wheels (`pip install --no-index --find-links`), then calls the library:
`arc_trm.kaggle.submit` loads the dataset and solves (planning the run as `arc-trm solve --time-budget` does:
`arc_trm.solve.schedule`) on every GPU (the CPU when there is none), and `submission.repair` validates, leaving
/kaggle/working/submission.json. Only the pre-fill and the install are plain text in the notebook.
ARC_TRM_KAGGLE_ROOT moves /kaggle (rehearsals); ARC_TRM_KAGGLE_STRICT=1 makes it raise on an error instead of
keeping the fallback submission.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

import arc_trm
from arc_trm.core.config import load_config, save_config
from arc_trm.core.io import write_json, write_text
from arc_trm.model import checkpoint as checkpoints

DATASET = "arc-trm"
MARKER = "arc-trm-dataset.json"
ROOT_ENV = "ARC_TRM_KAGGLE_ROOT"
CHALLENGES = "arc-agi_test_challenges.json"
# On Kaggle's image already, and binary (CUDA builds, compiled extensions): never shipped, never descended into.
PROVIDED = ("torch", "numpy", "scipy", "pyyaml", "pydantic")


class BuildError(ValueError):
    """A build input that cannot be used (config, checkpoint, wheels), named with the reason."""


def build(
    out: str | Path,
    config: str | Path,
    checkpoint: str | Path | None = None,
    time_budget: float = 11.5 * 3600,
    overrides: list[str] | None = None,
    wheels: str = "pypi",
    owner: str = "",
    competition: str = "arc-prize-2025",
    interactive_budget: float | None = 600,
) -> Path:
    """Write the notebook, the kernel metadata and the dataset folder into `out`; returns `out`.

    `owner`: the Kaggle username that owns the dataset and the notebook (required). `interactive_budget`: the
    budget when the notebook runs outside a competition rerun (an interactive "Save Version", scored against the
    placeholder file: KAGGLE_IS_COMPETITION_RERUN unset), so that it does not spend the full `time_budget`
    there; None: the full budget always.

    `wheels`: "pypi" (the dependencies at the versions installed here, downloaded from PyPI), "installed"
    (repacked from this environment's installed files, offline) or a folder of wheels to take them from.
    """
    from arc_trm.solve.config import SolveConfig

    out, dataset = Path(out), Path(out) / "dataset"
    if time_budget <= 0 or (interactive_budget is not None and interactive_budget <= 0):
        raise BuildError(f"time budgets must be positive, got {time_budget} and {interactive_budget}")
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]*", owner or ""):
        raise BuildError(f"owner must be your Kaggle username (letters, digits, '-', '_'), got {owner!r}")
    if dataset.is_dir() and any(dataset.iterdir()) and not (dataset / MARKER).is_file():
        raise BuildError(f"{dataset} exists and is not an earlier build (no {MARKER}); choose another --out")
    shutil.rmtree(dataset, ignore_errors=True)  # an earlier build's: replaced whole
    cfg = load_config(SolveConfig, config, overrides or [])
    source = checkpoint or cfg.checkpoint  # --checkpoint, else the config's own (`prior`: the embedded prior)
    cfg.checkpoint = None  # the notebook sets the dataset's own path
    save_config(cfg, dataset / "config.yaml")
    baked_checkpoint = _copy_checkpoint(checkpoints.locate(source), dataset / "checkpoint") if source else None
    names = build_wheels(dataset / "wheels", wheels)
    baked = {
        "arc_trm": arc_trm.__version__,
        "built": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "time_budget": time_budget,
        "interactive_budget": interactive_budget,
        "config": "config.yaml",
        "checkpoint": baked_checkpoint,
        "wheels": names,
    }
    write_json(baked, dataset / MARKER, indent=1)
    write_json(
        {"title": DATASET, "id": f"{owner}/{DATASET}", "licenses": [{"name": "MIT"}]},
        dataset / "dataset-metadata.json",
        indent=1,
    )
    write_json(
        {
            "id": f"{owner}/arc-trm-submission",
            "title": "arc-trm submission",
            "code_file": "notebook.ipynb",
            "language": "python",
            "kernel_type": "notebook",
            "is_private": True,
            "enable_gpu": True,
            "enable_internet": False,
            "dataset_sources": [f"{owner}/{DATASET}"],
            "competition_sources": [competition],
            "kernel_sources": [],
            "model_sources": [],
        },
        out / "kernel-metadata.json",
        indent=1,
    )
    write_text(notebook_json(baked), out / "notebook.ipynb")
    return out


def _copy_checkpoint(path: Path, dest: Path) -> str:
    """Copy a checkpoint and the files it is read with (ours: the JSON beside it; official: config.json or
    all_config.yaml, identifiers.json); it must load here first. Returns its path inside the dataset."""
    if not path.is_file():
        raise BuildError(f"{path}: checkpoint file not found")
    try:
        checkpoints.load_for_solve(path)
    except Exception as err:  # any reason it cannot load, named
        raise BuildError(f"{path}: cannot load the checkpoint ({type(err).__name__}: {err})") from err
    dest.mkdir(parents=True, exist_ok=True)
    companions = [checkpoints.meta_path(path)] + [
        path.parent / n for n in ("config.json", "all_config.yaml", "identifiers.json")
    ]
    for file in [path] + [c for c in companions if c.is_file() and c != path]:
        shutil.copy2(file, dest / file.name)
    return f"checkpoint/{path.name}"


# ---------------------------------------------------------------------------------------------- wheels


def runtime_closure() -> list[str]:
    """The distributions arc-trm needs at run time beyond PROVIDED (and what PROVIDED brings), by name."""
    try:
        from packaging.requirements import Requirement
    except ImportError:  # pip's own copy
        from pip._vendor.packaging.requirements import Requirement  # type: ignore[assignment]  # the same class

    seen: dict[str, str] = {}
    todo = list(metadata.requires("arc-trm") or [])
    while todo:
        req = Requirement(todo.pop())
        key = _norm(req.name)
        if key in seen or key in PROVIDED or (req.marker and not req.marker.evaluate({"extra": ""})):
            continue
        seen[key] = metadata.distribution(req.name).metadata["Name"]
        todo += metadata.requires(req.name) or []
    return sorted(seen.values(), key=str.lower)


def build_wheels(dest: Path, source: str = "pypi") -> list[str]:
    """arc-trm's wheel and the runtime closure's, into `dest`; every one must be pure Python (any platform)."""
    dest.mkdir(parents=True, exist_ok=True)
    _self_wheel(dest)
    needed = runtime_closure()
    pins = [f"{name}=={metadata.version(name)}" for name in needed]
    if source == "installed":
        for name in needed:
            repack(name, dest)
    else:
        index = ["--no-index", "--find-links", source] if source != "pypi" else []
        _pip("download", "--no-deps", "--only-binary=:all:", "--dest", str(dest), *index, *pins)
    names = sorted(p.name for p in dest.glob("*.whl"))
    binary = [n for n in names if not n.endswith("-none-any.whl")]
    if binary:
        raise BuildError(f"platform-specific wheel(s) {', '.join(binary)}: Kaggle's platform may differ")
    return names


def _self_wheel(dest: Path) -> None:
    """arc-trm's own wheel: built from the source tree when there is one (editable or checkout), else repacked
    from the installed files (a wheel install)."""
    root = Path(arc_trm.__file__).resolve().parent.parent
    if (root / "pyproject.toml").is_file() and 'name = "arc-trm"' in (root / "pyproject.toml").read_text():
        with tempfile.TemporaryDirectory() as tmp:  # a clean copy: no stale build/ folder in the checkout
            skip = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
            for part in ("arc_trm", "cli"):
                shutil.copytree(root / part, Path(tmp) / part, ignore=skip)
            for part in ("pyproject.toml", "README.md"):
                shutil.copy2(root / part, Path(tmp) / part)
            isolation = ["--no-build-isolation"] if _has_build_backend() else []
            _pip("wheel", "--no-deps", *isolation, "--wheel-dir", str(dest), tmp)
    else:
        repack("arc-trm", dest)


def _has_build_backend() -> bool:
    """Whether this environment's setuptools can build arc-trm (>= 77: the pyproject's licence form), so that
    pip need not fetch one into an isolated build environment (which needs the network or pip's cache)."""
    try:
        return int(metadata.version("setuptools").split(".")[0]) >= 77
    except (metadata.PackageNotFoundError, ValueError):
        return False


def _pip(*args: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pip", *args, "--quiet", "--disable-pip-version-check"], capture_output=True, text=True
    )
    if done.returncode:
        raise BuildError(f"pip {args[0]} failed ({done.returncode}): {done.stderr.strip()[-2000:]}")


def repack(name: str, dest: Path) -> Path:
    """A wheel rebuilt from an installed pure-Python distribution's files (those its RECORD lists inside
    site-packages; scripts are regenerated from entry points at install), with a fresh RECORD."""
    dist = metadata.distribution(name)
    info = dist.read_text("WHEEL") or ""
    if "Root-Is-Purelib: true" not in info:
        raise BuildError(f"{name}: not a pure-Python distribution; cannot repack it")
    if json.loads(dist.read_text("direct_url.json") or "{}").get("dir_info", {}).get("editable"):
        raise BuildError(f"{name}: an editable install; build it from its source tree")
    skip = {"RECORD", "INSTALLER", "REQUESTED", "direct_url.json"}
    if dist.files is None:
        raise BuildError(f"{name}: its installed files are not listed (no RECORD); cannot repack it")
    files = [f for f in dist.files if ".." not in f.parts and f.suffix != ".pyc" and f.name not in skip]
    info_dir = next(str(f.parts[0]) for f in dist.files if f.parts[0].endswith(".dist-info"))
    path = dest / f"{_norm(dist.metadata['Name']).replace('-', '_')}-{dist.version}-py3-none-any.whl"
    record = []
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as whl:
        for f in files:
            data = Path(f.locate()).read_bytes()
            whl.writestr(str(f.as_posix()), data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            record.append(f"{f.as_posix()},sha256={digest},{len(data)}")
        record.append(f"{info_dir}/RECORD,,")
        whl.writestr(f"{info_dir}/RECORD", "\n".join(record) + "\n")
    return path


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


# ---------------------------------------------------------------------------------------------- notebook

_SETUP = """\
# arc-trm Kaggle submission notebook, built by `arc-trm kaggle build` (see the README, "Submitting to Kaggle").
# Internet off. Every step after the pre-fill may fail without costing the submission: it stays valid.
import json, os, pathlib, subprocess, sys, time, traceback
START = time.time()
BAKED = json.loads({baked})
ROOT = pathlib.Path(os.environ.get("{root_env}", "/kaggle"))
INPUT, WORKING = ROOT / "input", ROOT / "working"
OUT = WORKING / "submission.json"
STRICT = os.environ.get("ARC_TRM_KAGGLE_STRICT") == "1"
ERRORS = []

def failed(step):
    ERRORS.append(step)
    traceback.print_exc()
    if STRICT:
        raise

def find(name, prefer=""):
    hits = sorted(INPUT.rglob(name), key=lambda p: (prefer not in str(p), len(p.parts), str(p)))
    if not hits:
        raise FileNotFoundError(f"no {{name}} under {{INPUT}}")
    return hits[0]

RERUN = bool(os.environ.get("KAGGLE_IS_COMPETITION_RERUN"))  # set by Kaggle when it scores the hidden tasks
BUDGET = BAKED["time_budget"] if RERUN or BAKED["interactive_budget"] is None else BAKED["interactive_budget"]
CHALLENGES = find("{challenges}", prefer="arc-prize")
print(f"challenges: {{CHALLENGES}}\\nmode: {{'competition rerun' if RERUN else 'interactive (not a rerun)'}}, "
      f"budget: {{BUDGET / 3600:.2f}} h from now")
"""

_PREFILL = """\
# A valid submission at once, with plain Python: every test input answered by itself (or [[0]]).
def fallback(test):
    grid = test.get("input") if isinstance(test, dict) else None
    ok = isinstance(grid, list) and grid and all(isinstance(r, list) and r and all(
        isinstance(v, int) and 0 <= v <= 9 for v in r) for r in grid)
    return grid if ok else [[0]]

def prefill(challenges):
    sub = {}
    for task_id, task in challenges.items():
        tests = task.get("test") if isinstance(task, dict) and isinstance(task.get("test"), list) else [None]
        sub[task_id] = [{"attempt_1": fallback(t), "attempt_2": fallback(t)} for t in tests]
    return sub

def write_atomic(data, path):
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data))
    os.replace(tmp, path)

write_atomic(prefill(json.loads(CHALLENGES.read_text())), OUT)
print(f"pre-filled {OUT}")
"""

_INSTALL = """\
# Offline install from the dataset's wheels; what Kaggle's image already has (torch, numpy, ...) stays.
import importlib
try:
    DATASET = find("arc-trm-dataset.json").parent
    print(f"dataset: {DATASET}")
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-index", "--find-links", str(DATASET / "wheels"),
                    "--quiet", "--disable-pip-version-check", f"arc-trm=={BAKED['arc_trm']}"], check=True)
    importlib.invalidate_caches()
    import arc_trm
    print(f"arc-trm {arc_trm.__version__} installed")
except Exception:
    failed("install")
"""

_SOLVE = """\
# Load the dataset's config and checkpoint and the tasks, plan the run (step times measured on the first device,
# in a process of its own) and solve on every GPU (the CPU when none) within what is left of the budget:
# arc_trm.kaggle.submit, the same plan and solve as `arc-trm solve --time-budget`.
try:
    from arc_trm.kaggle.submit import submit
    submit(DATASET, CHALLENGES, OUT, BUDGET - (time.time() - START))
except Exception:
    failed("solve")
"""

_VALIDATE = """\
# Validate; anything missing or malformed gets its fallback, so the file always scores.
try:
    from arc_trm.core import submission, tasks
    problems = submission.repair(OUT, tasks.load(CHALLENGES))
    if problems:
        print(f"{len(problems)} problem(s), e.g. {problems[:3]}; repaired with fallbacks")
    print(f"{OUT}: valid")
except Exception:
    failed("validate")
print(f"done in {time.time() - START:.0f}s; errors: {ERRORS or 'none'}")
"""


def notebook_json(baked: dict[str, Any]) -> str:
    """The notebook (nbformat 4.4, written as plain JSON: no nbformat needed to build) with `baked` in it."""
    fill = {"baked": repr(json.dumps(baked)), "root_env": ROOT_ENV, "challenges": CHALLENGES}
    intro = (
        f"# arc-trm: ARC-AGI with the Tiny Recursive Model\n\nBuilt by `arc-trm kaggle build` "
        f"(arc-trm {baked['arc_trm']}, {baked['built']}). Attach the competition and the `{DATASET}` dataset; "
        "internet off; accelerator: 4 x L4 (other GPUs, or none, also work)."
    )
    cells: list[dict[str, Any]] = [{"cell_type": "markdown", "metadata": {}, "source": intro.splitlines(keepends=True)}]
    for source in (_SETUP.format(**fill), _PREFILL, _INSTALL, _SOLVE, _VALIDATE):
        cells.append(
            {
                "cell_type": "code",
                "execution_count": None,
                "metadata": {},
                "outputs": [],
                "source": source.splitlines(keepends=True),
            }
        )
    return (
        json.dumps(
            {
                "cells": cells,
                "metadata": {
                    "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
                    "language_info": {"name": "python"},
                },
                "nbformat": 4,
                "nbformat_minor": 4,
            },
            indent=1,
        )
        + "\n"
    )
