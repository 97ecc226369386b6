"""The device and core rules (arc_trm/core/devices.py)."""

import os
import shutil
import subprocess
import sys

import pytest
import torch

from arc_trm.core import devices

PRINT_CORES = "from arc_trm.core import devices; print(devices.cores())"


def test_auto_is_the_cpu_without_a_gpu():
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    assert devices.resolve("auto") == torch.device("cpu")
    assert devices.gpu_count("auto") == 0


def test_cores_follow_the_process_affinity():
    """A process pinned to one core (taskset) sees one core, so solve gives its workers one thread each."""
    if shutil.which("taskset") is None or not hasattr(os, "sched_getaffinity"):
        pytest.skip("no taskset or no affinity on this platform")
    pinned = subprocess.run(
        ["taskset", "-c", "0", sys.executable, "-c", PRINT_CORES], capture_output=True, text=True, check=True
    )
    assert pinned.stdout.strip() == "1"
    free = subprocess.run([sys.executable, "-c", PRINT_CORES], capture_output=True, text=True, check=True)
    assert free.stdout.strip() == str(len(os.sched_getaffinity(0)))
