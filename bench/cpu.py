"""CPU time of process trees, from /proc, around a benchmark run (issue 23.1).

A tree's CPU time at an instant is the sum, over the root and every descendant alive then, of
utime + stime + cutime + cstime: a process's own time plus that of the children it has reaped.
A descendant that ends between two snapshots is then still counted whole, through its parent's
cutime/cstime once reaped (PostgreSQL's postmaster reaps its backends, beam.smp its erl_child_setup),
so the difference of two snapshots is the CPU the tree spent between them, whatever came and went.
A process's cutime/cstime never includes a live process, so nothing is counted twice."""
import os
from dataclasses import dataclass
from pathlib import Path

TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK")
PROC = Path("/proc")


@dataclass(frozen=True)
class ProcStat:
    pid: int
    ppid: int
    utime: int  # clock ticks
    stime: int
    cutime: int
    cstime: int

    @property
    def ticks(self) -> int:
        return self.utime + self.stime + self.cutime + self.cstime


def parse_stat(text: str) -> ProcStat:
    """One /proc/PID/stat line. The command name (field 2) is in parentheses and may itself hold
    spaces and parentheses: the fields that follow are counted from its last ')'."""
    pid = int(text[:text.index(" ")])
    rest = text[text.rindex(")") + 2:].split()
    # rest[0] is field 3 (state): ppid is field 4, utime..cstime are fields 14..17.
    return ProcStat(pid=pid, ppid=int(rest[1]), utime=int(rest[11]), stime=int(rest[12]),
                    cutime=int(rest[13]), cstime=int(rest[14]))


def read_all(proc: Path = PROC) -> dict[int, ProcStat]:
    """Every process's stat now; those that end while being read are left out."""
    stats = {}
    for entry in proc.iterdir():
        if entry.name.isdigit():
            try:
                stat = parse_stat((entry / "stat").read_text())
            except (FileNotFoundError, ProcessLookupError, ValueError, IndexError):
                continue
            stats[stat.pid] = stat
    return stats


def tree(root: int, stats: dict[int, ProcStat], apart: frozenset[int] = frozenset()) -> list[ProcStat]:
    """The root and all its descendants present in `stats` (empty if the root is gone), except the
    subtrees of the processes `apart` (counted as trees of their own: the services the bench starts
    are its children)."""
    if root not in stats:
        return []
    children: dict[int, list[int]] = {}
    for stat in stats.values():
        children.setdefault(stat.ppid, []).append(stat.pid)
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(stats[pid])
        todo.extend(child for child in children.get(pid, ()) if child not in apart)
    return found


def tree_ticks(root: int, stats: dict[int, ProcStat], apart: frozenset[int] = frozenset()) -> int:
    return sum(stat.ticks for stat in tree(root, stats, apart))


@dataclass(frozen=True)
class Snapshot:
    """Each named tree's CPU clock ticks at one instant."""
    ticks: dict[str, int]

    @classmethod
    def take(cls, roots: dict[str, int], proc: Path = PROC) -> "Snapshot":
        """A root that is another's descendant is left out of the other's tree: nothing counts twice."""
        stats = read_all(proc)
        return cls({name: tree_ticks(pid, stats, frozenset(roots.values()) - {pid}) for name, pid in roots.items()})

    def seconds_since(self, earlier: "Snapshot") -> dict[str, float]:
        """CPU seconds each tree spent since `earlier` (trees in both snapshots)."""
        return {name: (self.ticks[name] - earlier.ticks[name]) / TICKS_PER_SECOND
                for name in self.ticks if name in earlier.ticks}


def pid_from_file(path: Path) -> int | None:
    """The pid on the first line of a pid file (PostgreSQL's postmaster.pid, RabbitMQ's pid)."""
    try:
        return int(path.read_text().split("\n", 1)[0].strip())
    except (FileNotFoundError, ValueError):
        return None


def per_command_ms(seconds: dict[str, float], commands: int) -> dict[str, float | None]:
    return {name: round(s * 1000 / commands, 2) if commands else None for name, s in seconds.items()}
