"""A throwaway PostgreSQL server for the tests (and for a person trying the shared-study search):
Debian's ``postgresql`` binaries, ``initdb`` in a folder of its own, listening on 127.0.0.1 only
at a free port, its unix socket in that folder; stopped by its PID.

    python tests/engines/postgres.py up /tmp/pg     # prints the database URL
    python tests/engines/postgres.py down /tmp/pg

As root the server runs as the ``postgres`` user (``initdb`` refuses root). Tests take the
session fixture ``postgres_server`` (it skips, or fails when ``CI`` is set, without the binaries).
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

INSTALL = "apt-get install postgresql"
STATE = "engine.json"
DATABASE = "litlab"
NEEDED = ("initdb", "pg_ctl", "pg_isready", "createdb")


@dataclass
class Postgres:
    """A running server: its folder, port, postmaster PID and a database URL on it."""

    folder: str
    port: int
    pid: int
    url: str

    def database(self, name: str) -> str:
        """A new, empty database on this server; its URL (psycopg 3 through SQLAlchemy)."""
        _as_owner([_binary("createdb"), "-h", "127.0.0.1", "-p", str(self.port),
                   "-U", "postgres", name])  # fmt: skip
        return f"postgresql://postgres@127.0.0.1:{self.port}/{name}"


def binaries() -> Path | None:
    """The folder of ``initdb``, ``pg_ctl``, ``pg_isready`` and ``createdb``: ``$LITLAB_PG_BIN``,
    Debian's versioned folder (the newest), or the folder ``initdb`` resolves to from PATH."""
    if os.environ.get("LITLAB_PG_BIN"):
        found = [os.path.join(os.environ["LITLAB_PG_BIN"], "initdb")]
    else:
        found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=_version)
        on_path = shutil.which("initdb")
        found += [os.path.realpath(on_path)] if on_path else []
    for initdb in found:
        folder = Path(initdb).parent
        if all((folder / name).is_file() for name in NEEDED):
            return folder
    return None


def _version(path: str) -> float:
    try:
        return float(Path(path).parts[-3])
    except ValueError:
        return 0.0


def _binary(name: str) -> str:
    folder = binaries()
    if folder is None:
        raise RuntimeError(f"PostgreSQL is not installed: {INSTALL}")
    return str(folder / name)


def _as_owner(command: list[str], **kwargs) -> subprocess.CompletedProcess[str]:
    """``command`` as the user that owns the server (``postgres`` when we are root)."""
    if os.geteuid() == 0:
        command = ["runuser", "-u", "postgres", "--", *command]
    return subprocess.run(command, check=True, capture_output=True, text=True, **kwargs)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def up(folder: str | Path, timeout: float = 60) -> Postgres:
    """initdb in ``folder``/data, start the server, wait until it answers, create a database."""
    folder = Path(folder).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    data, port = folder / "data", free_port()
    if os.geteuid() == 0:  # the postgres user must reach and own its folder
        shutil.chown(folder, "postgres", "postgres")
        folder.chmod(0o755)
    _as_owner([_binary("initdb"), "-D", str(data), "-U", "postgres", "--auth=trust",
               "--no-sync", "--encoding=UTF8"])  # fmt: skip
    options = (
        f"-c listen_addresses=127.0.0.1 -p {port} -k {folder} -c fsync=off "
        "-c synchronous_commit=off -c full_page_writes=off"
    )  # a throwaway: no syncs
    _as_owner([_binary("pg_ctl"), "-D", str(data), "-l", str(folder / "server.log"),
               "-o", options, "-w", "-t", str(int(timeout)), "start"])  # fmt: skip
    pid = int((data / "postmaster.pid").read_text().split()[0])
    deadline = time.monotonic() + timeout
    while subprocess.run([_binary("pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(port)],
                         check=False).returncode != 0:  # fmt: skip
        if time.monotonic() > deadline:
            down(folder)
            raise RuntimeError(f"PostgreSQL did not answer on port {port}: see {folder}/server.log")
        time.sleep(0.2)
    server = Postgres(str(folder), port, pid, "")
    server.url = server.database(DATABASE)
    (folder / STATE).write_text(json.dumps(asdict(server)))
    return server


def down(folder: str | Path, timeout: float = 30) -> None:
    """Stop the server started in ``folder`` by its PID (a fast shutdown), then wait for it."""
    folder = Path(folder).resolve()
    pid_file = folder / "data" / "postmaster.pid"
    if not pid_file.is_file():
        return
    pid = int(pid_file.read_text().split()[0])
    try:
        os.kill(pid, signal.SIGINT)  # PostgreSQL's "fast" shutdown: ends sessions, checkpoints
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if _alive(pid):
        os.kill(pid, signal.SIGQUIT)  # immediate shutdown


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


try:  # the fixture, where pytest is there to hold it
    import pytest
except ImportError:  # run as a script without pytest
    pytest = None

if pytest is not None:
    import tempfile

    @pytest.fixture(scope="session")
    def postgres_server():
        """One server for the test session. Without the binaries: skipped, or failed in CI."""
        if binaries() is None or shutil.which("runuser") is None and os.geteuid() == 0:
            message = f"PostgreSQL's server binaries are not installed: {INSTALL}"
            if os.environ.get("CI"):
                pytest.fail(message + " (CI must run the cluster tests)")
            pytest.skip(message)
        pytest.importorskip("psycopg", reason="the driver: pip install 'litlab[postgres]'")
        folder = tempfile.mkdtemp(prefix="litlab-pg-")  # not tmp_path: postgres must reach it
        try:
            yield up(folder)
        finally:
            down(folder)
            shutil.rmtree(folder, ignore_errors=True)


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in ("up", "down"):
        print("usage: python tests/engines/postgres.py up|down <folder>", file=sys.stderr)
        return 2
    if argv[0] == "up":
        print(up(argv[1]).url)
    else:
        down(argv[1])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
