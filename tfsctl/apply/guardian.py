"""The guardian: a small process that undoes an apply which was killed.

An apply that fails rolls back by itself. One killed with SIGKILL (an OOM
kill, a cancelled CI job's hard kill, a closed laptop lid mid-replace) cannot,
and a replace interrupted between stopping the old server and starting the
new one would leave nothing serving until someone runs apply again. So, before
its first change, apply starts this process in its own session. It waits for
the server's lock (held by apply until it exits, released by the kernel even on
SIGKILL), then looks at the journal: gone means apply finished or rolled back
itself and there is nothing to do; still there, and written by that apply,
means the apply died, and the guardian undoes it from the journal, retrying
for a while if, say, the Docker engine is away. Its log is `guardian.log` in
the server's state dir.

The guardian runs beside every apply, on the same cores: until it has something
to undo it imports only the lock and the journal, so that its start-up does not
slow the apply it watches (a hot reload is done in a few tenths of a second).

    python -m tfsctl.apply.guardian   (reads {"target": ..., "pid": ...} on stdin)
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tfsctl.apply.lock import LockBusy, ServerLock
from tfsctl.errors import TfsctlError
from tfsctl.journal import JOURNAL_FILE, load_journal

if TYPE_CHECKING:
    from tfsctl.runtimes.base import RuntimeTarget

LOG_FILE = "guardian.log"
POLL_SECONDS = 0.2
#: How long to keep retrying an undo that fails (an engine that is restarting).
RETRY_FOR_SECONDS = 600.0

log = logging.getLogger("tfsctl.guardian")


def spawn_guardian(target: RuntimeTarget, timeout: float) -> None:
    """Start the guardian of this apply (detached: it must outlive a SIGKILL of apply)."""
    state_dir = Path(target.state_dir)
    with open(state_dir / LOG_FILE, "ab") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-m", "tfsctl.apply.guardian"], stdin=subprocess.PIPE,
            stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True, close_fds=True)
    assert process.stdin is not None
    process.stdin.write(json.dumps({"target": target.to_json(), "pid": os.getpid(),
                                     "timeout": timeout}).encode())
    process.stdin.close()


def _undo(target: dict[str, Any], state_dir: Path, timeout: float) -> list[str] | None:
    """Undo the interrupted apply from its journal (the lock is held): only now are the
    runtime driver and the server client imported."""
    from tfsctl.apply.recovery import recover
    from tfsctl.apply.server_client import reloader
    from tfsctl.runtimes.base import RuntimeTarget
    from tfsctl.runtimes.registry import driver

    runtime = driver(RuntimeTarget(**target))
    return recover(state_dir, runtime, reloader(runtime, timeout), log.info)


def watch(target: dict[str, Any], apply_pid: int, timeout: float) -> int:
    """Wait for the apply to end; undo it if it left its journal behind. Returns an exit code.
    `target` is a RuntimeTarget as JSON, rebuilt only when there is something to undo."""
    state_dir, server = Path(target["state_dir"]), str(target["server"])
    retry_until: float | None = None
    while True:
        if not (state_dir / JOURNAL_FILE).exists():
            return 0  # the apply finished, or rolled back, by itself
        try:
            with ServerLock(state_dir, server, role="recovery"):
                journal = load_journal(state_dir)
                if journal is None or journal.pid != apply_pid:
                    return 0  # another apply's journal: its own guardian watches it
                restored = _undo(target, state_dir, timeout)
                log.info("undid the interrupted apply (pid %d) of %r: %s", apply_pid, server,
                         "; ".join(restored or ()) or "nothing to undo")
                return 0
        except LockBusy:
            pass  # the apply (or a newer one) is still running
        except TfsctlError as exc:
            retry_until = retry_until or time.monotonic() + RETRY_FOR_SECONDS
            log.warning("%s (%s)", exc.message, exc.hint)
            if time.monotonic() > retry_until:
                log.error("giving up; the next tfsctl apply undoes it first")
                return 1
            time.sleep(5.0)
        time.sleep(POLL_SECONDS)


def main() -> int:
    logging.basicConfig(level=logging.INFO, stream=sys.stdout,
                        format=f"%(asctime)s guardian[{os.getpid()}] %(message)s")
    request = json.loads(sys.stdin.read())
    return watch(dict(request["target"]), int(request["pid"]), float(request["timeout"]))


if __name__ == "__main__":
    sys.exit(main())
