"""A warm Python for a local Snakemake run: each job's script runs in a process forked from a
server that has already imported torch, transformers and TRL.

A tiny grid's jobs are seconds of work each, and a fresh interpreter spends 3 to 5 s importing
the libraries before doing any: with some two hundred jobs that is most of the run. Under
`teachergrid worker -- snakemake ...` the command runs with `TEACHERGRID_WORKER` naming the
server's socket. A job's script still starts as Snakemake starts it (so `log:`, `benchmark:`,
retries and the DAG are unchanged), but its first call, `jobs.start`, hands the script to the
server and waits: the server forks, the child takes the job's working directory, environment and
standard streams, runs the same script file, and its exit status becomes the job's. When the
job is killed, the server kills the child.

The command starts once the server has finished its imports (a few seconds), so that the
first jobs find it too. Nothing changes where there is no server: a job that cannot reach it
(no socket, another host, another Python, as under `--use-conda`) or that runs under SLURM (it
must stay inside its allocation) runs in its own process as before.
`benchmark:` files of delegated jobs measure the waiting script: their wall time is the job's,
their memory is not.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import pickle
import select
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ENV = "TEACHERGRID_WORKER"
CHILD_ENV = "TEACHERGRID_IN_WORKER"
# What a job would otherwise import itself, slowest first.
PRELOAD = (
    "torch",
    "transformers",
    "transformers.models.llama.modeling_llama",
    "transformers.models.qwen2.modeling_qwen2",
    "transformers.models.gemma2.modeling_gemma2",
    "transformers.models.phi3.modeling_phi3",
    "transformers.trainer",
    "trl",
    "trl.trainer.sft_trainer",
    "peft",
    "datasets",
    "pandas",
    "scipy.stats",
    "tokenizers",
    "snakemake.script",
    "teachergrid.screening.compatibility",
    "teachergrid.training.finetune",
    "teachergrid.evaluation.judging",
    "teachergrid.analysis.report",
    "teachergrid.analysis.correlations",
    "teachergrid.tiny.build",
)

log = logging.getLogger(__name__)


def _send(sock: socket.socket, data: bytes) -> None:
    sock.sendall(struct.pack("!I", len(data)) + data)


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    out = b""
    while len(out) < n:
        chunk = sock.recv(n - len(out))
        if not chunk:
            raise ConnectionError("peer closed the connection")
        out += chunk
    return out


# ---- the job's side -----------------------------------------------------------------------


def delegate() -> None:
    """Run this job's script in the worker and exit with its status, when a worker of this
    Python is reachable; return (and let the script run here) otherwise."""
    path = os.environ.get(ENV)
    if not path or os.environ.get(CHILD_ENV) or not os.path.exists(path):
        return
    if os.environ.get("SLURM_JOB_ID"):
        return  # a scheduled job stays in its allocation (its cgroup, its accounting)
    script = os.path.abspath(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    if not script.endswith(".py") or not os.path.exists(script):
        return
    request = {
        "script": script,
        "cwd": os.getcwd(),
        "env": dict(os.environ),
        "prefix": sys.prefix,
    }
    try:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.connect(path)
        payload = pickle.dumps(request)
        socket.send_fds(sock, [struct.pack("!I", len(payload))], [0, 1, 2])
        sock.sendall(payload)
        (status,) = struct.unpack("!i", _recv_exact(sock, 4))
    except (OSError, ConnectionError):
        return  # the server went away before taking the job: run it here
    if status == -1000:  # declined (another Python): run it here
        return
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


# ---- the server's side --------------------------------------------------------------------


def _run_child(request: dict[str, Any], fds: Sequence[int]) -> None:
    """In the forked child: become the job and run its script; never returns."""
    code = 1
    try:
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
            os.close(fd)
        sys.stdin = open(0, closefd=False)  # noqa: SIM115
        sys.stdout = open(1, "w", buffering=1, closefd=False)  # noqa: SIM115
        sys.stderr = open(2, "w", buffering=1, closefd=False)  # noqa: SIM115
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        os.environ[CHILD_ENV] = "1"
        sys.argv = [request["script"]]
        import runpy

        try:
            runpy.run_path(request["script"], run_name="__main__")
            code = 0
        except SystemExit as exc:
            if exc.code is None:
                code = 0
            elif isinstance(exc.code, int):
                code = exc.code
            else:
                print(exc.code, file=sys.stderr)
                code = 1
    except BaseException:  # the job's own failure: its traceback goes to its stderr
        import traceback

        traceback.print_exc()
        code = 1
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


def _serve_one(conn: socket.socket) -> None:
    fds: list[int] = []
    try:
        header, fds, _, _ = socket.recv_fds(conn, 4, 3)
        (size,) = struct.unpack("!I", header)
        request = pickle.loads(_recv_exact(conn, size))
        if request.get("prefix") != sys.prefix or len(fds) != 3:
            conn.sendall(struct.pack("!i", -1000))
            return
        pid = os.fork()
        if pid == 0:
            conn.close()
            _run_child(request, fds)
        for fd in fds:
            os.close(fd)
        fds = []
        pidfd = os.pidfd_open(pid)
        try:
            while True:
                ready, _, _ = select.select([conn, pidfd], [], [])
                if pidfd in ready:
                    break
                if conn in ready and not conn.recv(1, socket.MSG_PEEK):
                    os.kill(pid, signal.SIGKILL)  # the job was killed: so is its child
                    break
            _, status = os.waitpid(pid, 0)
        finally:
            os.close(pidfd)
        code = os.waitstatus_to_exitcode(status)
        with contextlib.suppress(OSError):
            conn.sendall(struct.pack("!i", code if code >= 0 else 128 - code))
    finally:
        for fd in fds:
            os.close(fd)
        conn.close()


def serve(path: str) -> None:
    """Import the heavy libraries once, then fork a child per job until terminated."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    for name in PRELOAD:
        try:
            importlib.import_module(name)
        except Exception as exc:  # an optional library: its jobs import it themselves
            log.debug("not preloaded: %s (%s)", name, exc)
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    partial = path + ".binding"
    server.bind(partial)
    server.listen(128)
    os.rename(partial, path)  # the socket appears only once it accepts jobs
    while True:
        conn, _ = server.accept()
        threading.Thread(target=_serve_one, args=(conn,), daemon=True).start()


# How long `run` waits for the server's imports before starting the command without it.
START_TIMEOUT_S = 120.0


def _started(server: subprocess.Popen, path: str, timeout: float) -> bool:
    """Whether the server's socket appeared (it appears once the imports are done). Waited for
    before the command starts: Snakemake can start its first jobs before the imports finish,
    and a job that finds no socket runs in its own process."""
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        if server.poll() is not None or time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def run(command: Sequence[str]) -> int:
    """Run `command` (a local Snakemake run) with a worker beside it; its exit status."""
    with tempfile.TemporaryDirectory(prefix="teachergrid-worker-") as folder:
        path = str(Path(folder) / "socket")
        server = subprocess.Popen(
            [sys.executable, "-m", "teachergrid.support.worker", path],
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            env = dict(os.environ)
            if _started(server, path, START_TIMEOUT_S):
                env[ENV] = path
            else:
                print(
                    "teachergrid worker: the server did not start; every job runs in its own "
                    "process",
                    file=sys.stderr,
                )
            return subprocess.call(list(command), env=env)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(server.pid, signal.SIGKILL)  # the server and any child left
            server.wait()


if __name__ == "__main__":
    serve(sys.argv[1])
