"""The CPU hog the load and demo tests run beside: busy processes, all gone when the block ends."""

import os

import pytest

from stepdeploy_dev.bench.cpu_hog import cpu_count, cpu_hog

pytestmark = pytest.mark.unit


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as stat:  # a zombie is not running
        return stat.read().split(") ", 1)[1][0] != "Z"


def test_one_busy_loop_per_cpu_by_default_all_killed_at_the_end_even_on_error():
    with pytest.raises(RuntimeError), cpu_hog() as pids:
        assert len(pids) == cpu_count()
        assert all(_alive(pid) for pid in pids)
        raise RuntimeError("the scenario failed")
    assert not any(_alive(pid) for pid in pids)


def test_a_chosen_number_of_hogs_and_a_wrong_one():
    with cpu_hog(1) as pids:
        assert len(pids) == 1
    with pytest.raises(ValueError, match="0 or more"), cpu_hog(-1):
        pass
