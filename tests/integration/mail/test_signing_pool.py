"""The DKIM signing pool's processes never outlive the sender that started them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

HOST = textwrap.dedent("""
    import asyncio

    from salescopilot.mail.dkim import DkimSigner, generate_dkim_key
    from salescopilot.mail.message import DkimKey


    async def main():
        signer = DkimSigner(1)
        pem, _ = generate_dkim_key()
        await signer.sign(b"From: a@example.com\\r\\n\\r\\nHello\\r\\n", DkimKey("example.com", "s1", pem), ["From"])
        print(*[p.pid for p in signer._executor._processes.values()], flush=True)
        await asyncio.sleep(120)


    if __name__ == "__main__":
        asyncio.run(main())
""")


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is gone for our purpose (its parent, init, reaps it).
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_a_signing_process_exits_when_its_sender_is_killed(tmp_path):
    script = tmp_path / "sender.py"
    script.write_text(HOST)
    host = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    try:
        line = host.stdout.readline()  # type: ignore[union-attr]
        children = [int(pid) for pid in line.split()]
        assert children and all(alive(pid) for pid in children)
    finally:
        host.send_signal(signal.SIGKILL)
        host.wait(10)
    deadline = time.monotonic() + 15
    while any(alive(pid) for pid in children) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(alive(pid) for pid in children)
