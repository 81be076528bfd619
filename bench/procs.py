"""Child processes of the benchmark and what /proc says about them.

Every server is started in its own session (process group) and stopped by signalling
the group: SIGTERM, then SIGKILL after a deadline. Memory (VmRSS), CPU time (utime +
stime) and established connections per process are read from /proc; no psutil.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")
CLIENT_BACKEND = re.compile(r"\d\)|\[local\]")
REPO = Path(__file__).resolve().parent.parent
URL_PATTERN = re.compile(r"(http://127\.0\.0\.1:(\d+))")
PROBLEM_PATTERN = re.compile(
    r"Traceback|ERROR|WARNING|CRITICAL|database is locked|Exception|Killed|retrying",
    re.IGNORECASE,
)


@dataclass
class Server:
    """A server child process group whose output goes to a log file."""

    name: str
    process: subprocess.Popen[bytes]
    log: Path
    url: str = ""
    port: int = 0

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def problems(self) -> list[str]:
        """Log lines that look like errors (tracebacks, 'database is locked', ...)."""
        return [line for line in self.output().splitlines() if PROBLEM_PATTERN.search(line)]

    def pids(self) -> list[int]:
        """The server process and its descendants (uvicorn's workers)."""
        return process_tree(self.process.pid)

    def workers(self) -> list[int]:
        """The processes that serve requests: the children when there are any
        (uvicorn's Multiprocess supervisor), else the process itself."""
        return [pid for pid in self.pids() if _is_python(pid) and pid != self.process.pid] or [
            self.process.pid
        ]

    def stop(self, timeout: float = 20.0) -> None:
        if self.process.poll() is None:
            _signal_group(self.process.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout)
        # Anything left in the group (a worker whose parent died first) goes too.
        _signal_group(self.process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(5)


def stop_group(process: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    """SIGTERM the process's group, SIGKILL it if it is still there after `timeout`."""
    _signal_group(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        _signal_group(process.pid, signal.SIGKILL)
        process.wait(5)


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


@contextlib.contextmanager
def running(
    name: str, command: Sequence[str], env: dict[str, str], *, timeout: float = 60.0
) -> Iterator[Server]:
    """Start `command` (which prints its http://127.0.0.1:PORT URL) in a new session,
    wait until /healthz answers and every worker has finished starting; stop it on exit.
    Its log is removed then, unless it holds error lines."""
    fd, log_name = tempfile.mkstemp(prefix=f"bench-{name}-", suffix=".log")
    os.close(fd)
    log = Path(log_name)
    with log.open("wb") as out:
        process = subprocess.Popen(
            list(command),
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**clean_environment(), "PYTHONPATH": python_path(), **env},
            cwd=REPO,
            start_new_session=True,
        )
    server = Server(name, process, log)
    try:
        deadline = time.monotonic() + timeout
        _wait_for_url(server, deadline)
        _wait_for_health(server, deadline)
        _wait_for_idle_workers(server, deadline)
        yield server
    finally:
        server.stop()
        if server.problems():
            print(f"  .. {name}'s log, kept: {log}", file=sys.stderr, flush=True)
        else:
            log.unlink()


def clean_environment() -> dict[str, str]:
    """This process's environment without settings of the service or the baseline,
    so that every run starts from the defaults plus what the benchmark sets."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("LAURELS_", "BENCH_"))}


def python_path() -> str:
    """The repository (for `bench`) after whatever PYTHONPATH this process was given."""
    return os.pathsep.join(filter(None, [os.environ.get("PYTHONPATH"), str(REPO)]))


def _wait_for_url(server: Server, deadline: float) -> None:
    while time.monotonic() < deadline:
        match = URL_PATTERN.search(server.output())
        if match:
            server.url, server.port = match.group(1), int(match.group(2))
            return
        if server.process.poll() is not None:
            raise RuntimeError(f"{server.name} exited before listening:\n{server.output()}")
        time.sleep(0.05)
    raise TimeoutError(f"{server.name} printed no URL:\n{server.output()}")


def _wait_for_health(server: Server, deadline: float) -> None:
    while time.monotonic() < deadline:
        with (
            contextlib.suppress(OSError, urllib.error.URLError),
            urllib.request.urlopen(server.url + "/healthz", timeout=2) as response,
        ):
            if response.status == 200:
                return
        if server.process.poll() is not None:
            raise RuntimeError(f"{server.name} exited:\n{server.output()}")
        time.sleep(0.05)
    raise TimeoutError(f"{server.name} did not answer /healthz:\n{server.output()}")


def _wait_for_idle_workers(server: Server, deadline: float) -> None:
    """/healthz proves one worker is up; the others may still be importing. A worker
    whose CPU time stops growing has finished starting and waits on its socket, so
    connections opened afterwards can be accepted by every worker."""
    quiet: dict[int, int] = {}
    previous: dict[int, float] = {}
    while time.monotonic() < deadline:
        workers = server.workers()
        for pid in workers:
            used = cpu_seconds([pid])
            quiet[pid] = quiet.get(pid, 0) + 1 if used - previous.get(pid, -1.0) < 0.01 else 0
            previous[pid] = used
        if workers and all(quiet.get(pid, 0) >= 3 for pid in workers):
            return
        time.sleep(0.1)
    raise TimeoutError(f"the workers of {server.name} did not settle")


# --- /proc --------------------------------------------------------------------------


def process_tree(root: int) -> list[int]:
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        for task in Path(f"/proc/{pid}/task").glob("*"):
            with contextlib.suppress(OSError):
                todo.extend(int(c) for c in (task / "children").read_text().split())
    return found


def _is_python(pid: int) -> bool:
    """uvicorn's Multiprocess also starts multiprocessing helpers; workers run
    `spawn_main` but so does the resource tracker, which runs `resource_tracker`."""
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
    except OSError:
        return False
    return b"python" in command and b"resource_tracker" not in command


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def cpu_seconds(pids: Sequence[int]) -> float:
    total = 0.0
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        total += (int(fields[11]) + int(fields[12])) / TICKS
    return total


def postgres_pids(database: str) -> list[int]:
    """The PostgreSQL processes working for `database`: its backends, and the
    server's own (postmaster, WAL writer, checkpointer...); not other databases'
    backends, which belong to whoever else uses the server."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            if (entry / "comm").read_text().strip() not in {"postgres", "postmaster"}:
                continue
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            if f" {database} " in command or not CLIENT_BACKEND.search(command):
                found.append(int(entry.name))
    return found


def cpu_by_process(pids: Sequence[int]) -> dict[int, float]:
    return {pid: cpu_seconds([pid]) for pid in pids}


def machine_cpu() -> tuple[float, float]:
    """(busy, total) jiffies of the whole machine since boot."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]
    total = sum(values[:8])
    return total - idle, total


def established_per_process(pids: Sequence[int], port: int) -> dict[int, int]:
    """How many established TCP connections to `port` each process holds."""
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                parts = line.split()
                local_port = int(parts[1].rsplit(":", 1)[1], 16)
                if local_port == port and parts[3] == "01":
                    inodes.add(parts[9])
    counts: dict[int, int] = {}
    for pid in pids:
        count = 0
        with contextlib.suppress(OSError):
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                with contextlib.suppress(OSError):
                    target = os.readlink(fd)
                    if target.startswith("socket:[") and target[8:-1] in inodes:
                        count += 1
        counts[pid] = count
    return counts
