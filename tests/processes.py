"""`salescopilot` subprocesses for tests: workers and schedulers started with the test's
environment (database, Redis queue), each in its own process group with its output in a file."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def salescopilot_command() -> list[str]:
    script = Path(sys.executable).parent / "salescopilot"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from salescopilot.cli import main; main()"]


class Service:
    """A `salescopilot` subprocess in its own process group, its output in a log file."""

    def __init__(self, args: list[str], log_path: Path) -> None:
        self.log_path = log_path
        path = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
        env = {**os.environ, "PYTHONPATH": path}
        with log_path.open("wb") as log:
            self.process = subprocess.Popen(
                salescopilot_command() + args,
                cwd=REPO,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")[-6000:]

    def stop(self, timeout: float = 30) -> int:
        """SIGTERM, as a process supervisor would send; returns the exit code."""
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            pytest.fail(f"did not stop within {timeout}s after SIGTERM:\n{self.output()}")

    def kill(self) -> None:
        """SIGKILL the whole group: the command and every worker process it started."""
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait(10)



def running(pid: int) -> bool:
    """Whether `pid` is alive (an unreaped zombie is not: its orphan may wait for a reaper)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state not in ("Z", "X")



async def wait_for(condition, timeout: float, what: str, *services: Service):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await condition():
            return
        await asyncio.sleep(0.1)
    logs = "\n".join(f"--- {s.log_path.name}\n{s.output()}" for s in services)
    pytest.fail(f"timed out waiting for {what}\n{logs}")
