"""What a long run guarantees: resume by status, a hard deadline enforced from outside, a shared work queue
that survives a dead or hung worker, every task id in the submission, and bad checkpoints refused up front."""

import json
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import REPO
from typer.testing import CliRunner

from arc_trm.core import submission, tasks
from arc_trm.core.config import load_config, to_dict
from arc_trm.solve import claims
from arc_trm.solve.config import SolveConfig
from arc_trm.solve.records import RecordStore, make_record, records_dir
from arc_trm.solve.run import Resume, resume_kind, solve
from arc_trm_cli.app import app
from benchmarks.hard_stop import worker_pids

EXAMPLES = REPO / "examples" / "tasks"
QUICK = ["ttt.max_steps=15", "ttt.versions=8", "device=cpu"]
ENV = {**os.environ, "COLUMNS": "400"}


def quick_config(*extra: str) -> SolveConfig:
    return load_config(SolveConfig, REPO / "configs" / "cpu.yaml", [*QUICK, *extra])


def saved(task: tasks.Task, config: SolveConfig, status: str, reason: str | None = None, grid=None) -> dict:
    """A record as solve saves it, with `grid` (default: the test input) as both attempts."""
    attempts = [((grid if grid is not None else g),) * 2 for g in task.test_inputs]
    record = make_record(task.id, attempts, [[] for _ in task.test_inputs], {}, to_dict(config), status)
    return {**record, "reason": reason} if reason else record


# ---------------------------------------------------------------------------------------------- resume by status


def test_resume_keeps_answers_and_retries_what_lacked_time_or_failed(tmp_path):
    taskset = tasks.load(EXAMPLES)
    config, out = quick_config(), tmp_path / "submission.json"
    store = RecordStore(records_dir(out))
    a, b, c, d = taskset
    store.save(saved(a, config, "predicted"))
    store.save(saved(b, config, "skipped", "out of time"))
    store.save(saved(c, config, "failed", "RuntimeError: boom"))
    store.save(saved(d, quick_config("ttt.lr=0.001"), "predicted"))
    before = store.path(a.id).stat().st_mtime_ns

    report = solve(taskset, out, config)

    assert report.resumed == 1 and report.retried == {"out of time": 1, "failed": 1} and report.redone == 1
    assert "1 resumed, 2 retried (1 failed, 1 out of time), 1 redone" in report.resume_line()
    assert store.path(a.id).stat().st_mtime_ns == before  # kept as it was
    for task in (b, c, d):
        assert store.load(task.id)["steps"] == 15  # worked on again


def test_resume_kind_of_each_record():
    task, config = tasks.load(EXAMPLES)["3c9b0459"], quick_config()
    assert resume_kind(saved(task, config, "predicted"), config) is Resume.DONE
    assert resume_kind(saved(task, config, "fallback"), config) is Resume.DONE  # ran to its end: a rerun is the same
    assert resume_kind(saved(task, config, "skipped", "no valid demonstration or test input"), config) is Resume.DONE
    assert resume_kind(saved(task, config, "skipped", "dropped by the plan"), config) is Resume.DONE  # same plan: same
    assert resume_kind(saved(task, config, "skipped", "out of time: 2 s left"), config) is Resume.OUT_OF_TIME
    assert resume_kind(saved(task, config, "failed", "out of memory at the smallest size"), config) is Resume.FAILED
    assert resume_kind(saved(task, config, "predicted"), quick_config("seed=1")) is Resume.REDO
    assert resume_kind(saved(task, config, "predicted"), quick_config("device=cuda")) is Resume.DONE  # device aside


def test_a_retry_without_an_answer_keeps_the_earlier_answer(tmp_path):
    task = tasks.load(EXAMPLES)["3c9b0459"]
    out, answer = tmp_path / "submission.json", task.test_outputs[0]
    RecordStore(records_dir(out)).save(saved(task, quick_config("ttt.lr=0.001"), "predicted", grid=answer))
    report = solve(tasks.TaskSet([task]), out, quick_config("min_task_seconds=100000"))  # no time: skipped
    record = report.results[0].record
    assert record["status"] == "skipped" and record["kept"] and report.redone == 1
    assert submission.read(out)[task.id][0]["attempt_1"] == answer.tolist()


# ---------------------------------------------------------------------------------------------- the queue


def test_a_unit_is_claimed_once_and_a_dead_or_silent_holder_loses_it(tmp_path):
    first, second = claims.ClaimQueue(tmp_path, "run"), claims.ClaimQueue(tmp_path, "run")
    assert first.claim_next(["a", "b"]) == "a" and second.claim_next(["a", "b"]) == "b"
    assert second.claim_next(["a", "b"]) is None  # both held by live processes
    first.finish("a")
    assert first.is_done("a") and first.pending(["a", "b"]) == ["b"]

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    path = first.folder / "c.claim"
    path.write_text(json.dumps({"host": claims.HOST, "pid": int(dead.stdout)}))
    assert second.claim("c")  # its holder has ended

    silent = claims.ClaimQueue(tmp_path, "run", lease=0.2)
    (silent.folder / "d.claim").write_text(json.dumps({"host": "another-machine", "pid": 1}))
    assert not silent.claim("d")
    time.sleep(0.3)
    assert silent.claim("d")  # no heartbeat within the lease


def test_the_heartbeat_keeps_a_claim_alive(tmp_path):
    holder, other = claims.ClaimQueue(tmp_path, "run", lease=0.5), claims.ClaimQueue(tmp_path, "run", lease=0.5)
    holder.claim("a")
    (holder.folder / "a.claim").write_text(json.dumps({"host": "another-machine", "pid": os.getpid()}))
    with holder.heartbeat(every=0.05):
        time.sleep(0.8)
        assert not other.claim("a")


def _claim_all(folder: str, units: list[str], results, ready, go) -> None:
    queue = claims.ClaimQueue(folder, "race")
    ready.release()
    go.wait()  # all start claiming together
    while (unit := queue.claim_next(units)) is not None:
        results.put((unit, os.getpid()))
        time.sleep(0.002)  # a unit's work, so that the workers interleave
        queue.finish(unit)


@pytest.mark.slow
def test_processes_racing_for_units_each_get_distinct_ones(tmp_path):
    units = [f"task{i}" for i in range(200)]
    context = multiprocessing.get_context("spawn")
    results, ready, go = context.Queue(), context.Semaphore(0), context.Event()
    workers = [context.Process(target=_claim_all, args=(str(tmp_path), units, results, ready, go)) for _ in range(4)]
    for worker in workers:
        worker.start()
    for _ in workers:
        assert ready.acquire(timeout=60)
    go.set()
    got = [results.get(timeout=60) for _ in units]
    for worker in workers:
        worker.join(timeout=60)
    assert sorted(unit for unit, _ in got) == sorted(units)  # each exactly once
    assert len({pid for _, pid in got}) > 1


# ---------------------------------------------------------------------------------------------- hard deadline


def _start_solve(out: Path, budget: int, workers: int) -> tuple[subprocess.Popen, float]:
    command = [
        sys.executable,
        "-m",
        "arc_trm_cli",
        "solve",
        str(EXAMPLES),
        "--out",
        str(out),
        "-q",
        "--time-budget",
        f"{budget}s",
        "--workers",
        str(workers),
        "--set",
        "ttt.max_steps=100000",
        "--set",
        "device=cpu",
    ]
    return subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=REPO, env=ENV, text=True
    ), time.monotonic()


def _wait_for_workers(process: subprocess.Popen, count: int) -> list[int]:
    deadline = time.monotonic() + 60
    while len(found := worker_pids(process.pid)) < count and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(found) == count, found
    return found


@pytest.mark.slow
@pytest.mark.parametrize("workers", [1, 2])
def test_a_hung_worker_cannot_make_the_run_overrun(tmp_path, workers):
    out, budget = tmp_path / "submission.json", 30
    process, start = _start_solve(out, budget, workers)
    hung = _wait_for_workers(process, workers)[0]
    time.sleep(3)
    os.kill(hung, signal.SIGSTOP)  # hangs mid-task, holding its claim
    output, _ = process.communicate(timeout=budget + 30)
    wall = time.monotonic() - start
    assert process.returncode == 0, output
    assert "hard deadline" in output  # the run stopped its workers itself; how close to the budget: hard_stop.json
    assert wall < budget + 15, f"{wall:.1f} s for a {budget} s budget: it waited on the hung worker"
    assert submission.validate(submission.read(out), tasks.load(EXAMPLES)) == []
    if workers == 2:  # the other worker went on: its tasks are in the submission
        assert any(r["status"] == "predicted" for r in RecordStore(records_dir(out)).load_all().values())


@pytest.mark.slow
def test_a_killed_worker_loses_no_finished_task_and_its_task_is_taken_over(tmp_path):
    out, budget = tmp_path / "submission.json", 60
    process, _ = _start_solve(out, budget, 2)
    pids = _wait_for_workers(process, 2)
    store = RecordStore(records_dir(out))
    deadline = time.monotonic() + budget
    while not store.load_all() and time.monotonic() < deadline:
        time.sleep(0.2)
    finished = set(store.load_all())
    os.kill(pids[0], signal.SIGKILL)
    output, _ = process.communicate(timeout=budget + 30)
    assert process.returncode == 0, output
    records = store.load_all()
    assert finished <= set(records)  # nothing finished was lost
    assert set(records) == set(tasks.load(EXAMPLES).ids)  # the dead worker's task was taken over
    assert submission.validate(submission.read(out), tasks.load(EXAMPLES)) == []


@pytest.mark.slow
def test_ranks_under_torchrun_share_one_queue(tmp_path):
    """Two `arc-trm solve` processes with torchrun's environment (one run id) on one folder split the tasks."""
    out = tmp_path / "submission.json"
    command = [
        sys.executable,
        "-m",
        "arc_trm_cli",
        "solve",
        str(EXAMPLES),
        "--out",
        str(out),
        "-q",
        *sum((["--set", o] for o in QUICK), []),
    ]
    ranks = [
        subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            cwd=REPO,
            text=True,
            env={
                **ENV,
                "TORCHELASTIC_RUN_ID": "shared",
                "RANK": str(r),
                "WORLD_SIZE": "2",
                "LOCAL_RANK": str(r),
                "LOCAL_WORLD_SIZE": "2",
            },
        )
        for r in range(2)
    ]
    outputs = [rank.communicate(timeout=300)[0] for rank in ranks]
    assert all(rank.returncode == 0 for rank in ranks), outputs
    records = RecordStore(records_dir(out)).load_all()
    assert set(records) == set(tasks.load(EXAMPLES).ids)
    assert len({r["solved_by"] for r in records.values()}) == 2  # both ranks took tasks
    done = list((records_dir(out) / "claims").glob("shared-*/*.done"))  # one queue: torchrun's id + the work found
    assert len(done) == 4


# ---------------------------------------------------------------------------------------------- input and checkpoints


def test_a_malformed_task_in_a_challenges_file_keeps_its_entry(tmp_path):
    good = json.loads((EXAMPLES / "3c9b0459.json").read_text())
    challenges = {"good": good, "notest": {"train": good["train"]}, "junk": [1, 2]}
    (tmp_path / "c.json").write_text(json.dumps(challenges))
    out = tmp_path / "submission.json"
    result = CliRunner().invoke(
        app,
        ["solve", str(tmp_path / "c.json"), "--out", str(out), "-q", *sum((["--set", o] for o in QUICK), [])],
        env={"COLUMNS": "400"},
    )
    assert result.exit_code == 0, result.output
    sub = submission.read(out)
    assert list(sub) == ["good", "notest", "junk"]
    assert sub["junk"] == sub["notest"] == [{"attempt_1": [[0]], "attempt_2": [[0]]}]


def test_the_torch_floor_has_what_the_code_uses():
    pyproject = (REPO / "pyproject.toml").read_text()
    floor = next(line for line in pyproject.splitlines() if '"torch>=' in line).split(">=")[1].split('"')[0]
    assert tuple(int(x) for x in floor.split(".")[:2]) >= (2, 5)  # torch.OutOfMemoryError, caught by solve


def _official_run(folder: Path, reference_dir: Path, all_config: str | None = None, config_json: dict | None = None):
    folder.mkdir()
    (folder / "checkpoint.pt").write_bytes((reference_dir / "official_att" / "checkpoint.pt").read_bytes())
    if all_config is not None:
        (folder / "all_config.yaml").write_text(all_config)
    if config_json is not None:
        (folder / "config.json").write_text(json.dumps(config_json))
    return folder / "checkpoint.pt"


def test_every_bad_checkpoint_is_one_clear_error_before_any_task(tmp_path, reference_dir):
    mlp = reference_dir / "official_mlp" / "checkpoint.pt"
    ours = tmp_path / "ours"
    ours.mkdir()
    (ours / "model.pt").write_bytes((reference_dir / "official_att" / "checkpoint.pt").read_bytes())
    (ours / "model.json").write_text(json.dumps({"format": "nope"}))
    cases = {
        "no companion": _official_run(tmp_path / "bare", reference_dir),
        "broken yaml": _official_run(tmp_path / "yaml", reference_dir, all_config="arch: [unclosed"),
        "config without official_config": _official_run(tmp_path / "json", reference_dir, config_json={"arch": "trm"}),
        "our format, bad metadata": ours / "model.pt",
        "TRM-MLP": mlp,
    }
    for why, path in cases.items():
        out = tmp_path / why.replace(" ", "_") / "submission.json"
        result = CliRunner().invoke(
            app, ["solve", str(EXAMPLES), "--out", str(out), "--checkpoint", str(path)], env={"COLUMNS": "400"}
        )
        assert result.exit_code == 2, (why, result.output)
        assert path.name in result.output and "Traceback" not in result.output, (why, result.output)
        assert not records_dir(out).exists(), why  # no task started
    assert "mixer" in result.output  # the TRM-MLP case says why
