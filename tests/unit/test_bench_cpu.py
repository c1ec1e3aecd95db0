"""bench/cpu.py: CPU time of process trees from /proc, as `make bench` reports it per command
(issue 23.1). Checked against the test process itself and children it starts."""
import os
import subprocess
import sys
import time

from bench import cpu

SPIN = "import time\nt = time.process_time()\nwhile time.process_time() - t < {}: pass\n"


def test_a_stat_line_is_read_past_a_command_name_with_spaces_and_parentheses():
    fields = " ".join(str(n) for n in range(3, 53)).replace("3", "S", 1)  # field 3 is the state
    line = f"4242 (a) b (c)) {fields}\n"
    stat = cpu.parse_stat(line)
    assert (stat.pid, stat.ppid, stat.utime, stat.stime, stat.cutime, stat.cstime) == (4242, 4, 14, 15, 16, 17)
    assert stat.ticks == 14 + 15 + 16 + 17


def test_the_test_process_own_times_match_its_stat():
    spin(0.2)
    own = cpu.read_all()[os.getpid()]
    times = os.times()
    assert own.ppid == os.getppid()
    assert abs((own.utime + own.stime) / cpu.TICKS_PER_SECOND - (times.user + times.system)) < 0.05
    assert own.utime / cpu.TICKS_PER_SECOND >= 0.2 - 0.02


def test_a_child_that_ran_and_ended_between_two_snapshots_counts_through_the_parent():
    before = cpu.Snapshot.take({"me": os.getpid()})
    subprocess.run([sys.executable, "-c", SPIN.format(0.4)], check=True)
    after = cpu.Snapshot.take({"me": os.getpid()})
    spent = after.seconds_since(before)["me"]
    assert 0.4 <= spent < 0.4 + 1.0  # the child's 0.4 s, plus its start-up and ours


def test_a_live_child_counts_in_the_tree_and_only_there():
    # It spins, then waits until the test kills it.
    child = subprocess.Popen([sys.executable, "-c", SPIN.format(0.3) + "import signal\nsignal.pause()\n"])
    try:
        deadline = time.monotonic() + 10
        while True:
            stats = cpu.read_all()
            mine = stats.get(child.pid)
            if mine and (mine.utime + mine.stime) / cpu.TICKS_PER_SECOND >= 0.3:
                break
            assert time.monotonic() < deadline, "the child did not spin"
            time.sleep(0.05)
        members = {stat.pid for stat in cpu.tree(os.getpid(), stats)}
        assert {os.getpid(), child.pid} <= members
        assert cpu.tree(child.pid, stats) == [stats[child.pid]]
        assert cpu.tree_ticks(os.getpid(), stats) >= stats[os.getpid()].ticks + stats[child.pid].ticks
        assert cpu.tree(os.getpid(), {}) == []
        assert child.pid not in {stat.pid for stat in cpu.tree(os.getpid(), stats, frozenset({child.pid}))}
        both = cpu.Snapshot.take({"me": os.getpid(), "child": child.pid})
        alone = cpu.Snapshot.take({"me": os.getpid()})
        assert both.ticks["child"] >= 0.3 * cpu.TICKS_PER_SECOND
        assert both.ticks["me"] <= alone.ticks["me"] - both.ticks["child"]  # the child counted once
    finally:
        child.kill()
        child.wait()


def test_pid_files_and_per_command_figures(tmp_path):
    (tmp_path / "postmaster.pid").write_text("13116\n/data\n1700000000\n")
    assert cpu.pid_from_file(tmp_path / "postmaster.pid") == 13116
    assert cpu.pid_from_file(tmp_path / "missing") is None
    assert cpu.per_command_ms({"cases": 1.5, "gateway": 0.25}, 100) == {"cases": 15.0, "gateway": 2.5}
    assert cpu.per_command_ms({"cases": 1.5}, 0) == {"cases": None}


def spin(seconds: float) -> None:
    started = time.process_time()
    while time.process_time() - started < seconds:
        pass
