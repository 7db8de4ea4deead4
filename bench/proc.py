"""Child processes of the bench, and what /proc says about them (psutil is not installed)."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import threading
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Child:
    """A child process started with stdout and stderr merged: its output is read until
    a line matches ``ready`` (``self.match``), then copied to ``log`` by a thread, which
    also counts the lines containing ``count`` (moto's access log: one line per call)."""

    def __init__(self, argv: list[str], ready: str, log: Path, count: bytes | None = None, **popen):
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.PIPE,
                                     **popen)
        self.counted = 0
        pattern = re.compile(ready)
        with open(log, "ab") as out:
            for line in self.proc.stdout:
                out.write(line)
                if match := pattern.search(line.decode(errors="replace")):
                    break
            else:
                self.proc.wait()
                raise RuntimeError(f"{argv[:4]} exited ({self.proc.returncode}) before it was ready; see {log}")
        self.match = match
        threading.Thread(target=self._drain, args=(log, count), daemon=True).start()

    def _drain(self, log: Path, count: bytes | None) -> None:
        with open(log, "ab") as out:
            for line in self.proc.stdout:
                out.write(line)
                if count is not None and count in line:
                    self.counted += 1


def stop(child: subprocess.Popen, timeout: float = 30) -> None:
    """SIGTERM (gunicorn drains its workers), closed stdin (our helpers exit), then SIGKILL."""
    if child.poll() is None:
        child.send_signal(signal.SIGTERM)
        try:
            child.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
    if child.stdin:
        child.stdin.close()


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return sorted(found)


def cpu_seconds(pid: int) -> float | None:
    """utime + stime of a process (all its threads), or None once it has gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # fields 14 and 15 of stat(5)


def memory_mib(pid: int) -> dict[str, float] | None:
    """Peak (VmHWM) and current (VmRSS) resident memory, and the proportional share
    (Pss: pages shared with the master and the other workers count divided)."""
    try:
        lines = [*Path(f"/proc/{pid}/status").read_text().splitlines(),
                 *Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()]
    except OSError:
        return None
    values = {k: int(v.split()[0]) / 1024 for k, _, v in (line.partition(":") for line in lines)
              if k in ("VmHWM", "VmRSS", "Pss")}
    return {"peak_mib": round(values["VmHWM"], 1), "rss_mib": round(values["VmRSS"], 1),
            "pss_mib": round(values["Pss"], 1)}


class CpuMeter:
    """CPU seconds used by a set of processes between two snapshots; processes that
    appear in between (a replaced worker) count in full."""

    def __init__(self, pids: callable):
        self._pids = pids

    def snapshot(self) -> dict[int, float]:
        return {pid: used for pid in self._pids() if (used := cpu_seconds(pid)) is not None}

    @staticmethod
    def used(before: dict[int, float], after: dict[int, float]) -> float:
        return sum(value - before.get(pid, 0.0) for pid, value in after.items())
