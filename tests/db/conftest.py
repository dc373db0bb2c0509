"""Fixtures of the database tests.

- ``replica_servers``: the MariaDB master (127.0.0.1:3307) and its real replica (3308) started by
  ``scripts/mariadb-replica.sh start``; skips when they are not running (fails under
  ``TORNADOPY_REQUIRE_SERVICES=1``).
- ``mysql_url`` / ``sqlite_url``: the shared MariaDB on 3306 and a fresh SQLite file.
- every test ends with ``dispose_all()`` so no engine outlives its event loop.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass

import pymysql
import pytest

from tornadopy.db.dbalchemy import dispose_all
from tornadopy.testing import require_service, services_required

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
SCRIPT = os.path.join(ROOT, "scripts", "mariadb-replica.sh")
MASTER_PORT = int(os.environ.get("TORNADOPY_MARIADB_MASTER_PORT", "3307"))
REPLICA_PORT = int(os.environ.get("TORNADOPY_MARIADB_REPLICA_PORT", "3308"))
MYSQL_PORT = 3306


def mysql_entry(port: int, role: str = "master", driver: str = "mysql+aiomysql", **extra):
    """A ``DATABASE_CONNECTION`` entry in the seed's format for 127.0.0.1:``port``/test."""
    entry = {
        "ROLE": role,
        "DRIVER": driver,
        "UID": "root",
        "PASSWD": "",
        "HOST": "127.0.0.1",
        "PORT": port,
        "DATABASE": "test",
        "QUERY": {"charset": "utf8mb4"},
    }
    entry.update(extra)
    return entry


def run_sql(port: int, sql: str, args=None):
    """Run one statement with a blocking client (set-up and checks only); returns all rows."""
    conn = pymysql.connect(
        host="127.0.0.1", port=port, user="root", database="test", autocommit=True
    )
    try:
        with conn.cursor() as cur:
            cur.execute(sql, args)
            return cur.fetchall()
    finally:
        conn.close()


@dataclass
class ReplicaServers:
    """The master/replica pair of ``scripts/mariadb-replica.sh``."""

    master_port: int = MASTER_PORT
    replica_port: int = REPLICA_PORT

    def connections(self, **extra):
        return [
            mysql_entry(self.master_port, **extra),
            mysql_entry(self.replica_port, "slave", **extra),
        ]

    def wait_replicated(self, timeout: float = 10) -> None:
        """Block until the replica applied everything the master has logged."""
        pos = run_sql(self.master_port, "SELECT @@gtid_binlog_pos")[0][0]
        if pos:
            rows = run_sql(self.replica_port, "SELECT MASTER_GTID_WAIT(%s, %s)", (pos, timeout))
            assert rows[0][0] == 0, f"replica did not reach {pos} within {timeout}s"

    async def script(self, *args: str) -> None:
        proc = await asyncio.create_subprocess_exec(
            SCRIPT, *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
        )
        out, _ = await asyncio.wait_for(proc.communicate(), 90)
        assert proc.returncode == 0, f"{SCRIPT} {' '.join(args)} failed: {out.decode()}"


def _replication_running(port: int) -> str | None:
    try:
        conn = pymysql.connect(host="127.0.0.1", port=port, user="root", autocommit=True)
    except pymysql.MySQLError as exc:
        return str(exc)
    try:
        with conn.cursor(pymysql.cursors.DictCursor) as cur:
            cur.execute("SHOW SLAVE STATUS")
            row = cur.fetchone()
    finally:
        conn.close()
    if not row:
        return "replication is not configured"
    if row["Slave_IO_Running"] != "Yes" or row["Slave_SQL_Running"] != "Yes":
        return f"replication is not running (io={row['Slave_IO_Running']}, sql={row['Slave_SQL_Running']})"
    return None


@pytest.fixture
def replica_servers():
    """The running master/replica pair (``scripts/mariadb-replica.sh start``)."""
    hint = "start it with scripts/mariadb-replica.sh start"
    require_service(f"replica-test MariaDB master ({hint})", "127.0.0.1", MASTER_PORT)
    require_service(f"replica-test MariaDB replica ({hint})", "127.0.0.1", REPLICA_PORT)
    problem = _replication_running(REPLICA_PORT)
    if problem:
        msg = f"MariaDB replica on 127.0.0.1:{REPLICA_PORT}: {problem} ({hint})"
        if services_required():
            pytest.fail(msg, pytrace=False)
        pytest.skip(msg)
    return ReplicaServers()


@pytest.fixture
def mysql_url(mysql_server):
    host, port = mysql_server
    return f"mysql+aiomysql://root@{host}:{port}/test?charset=utf8mb4"


@pytest.fixture
def sqlite_url(tmp_path):
    return f"sqlite+aiosqlite:///{tmp_path / 'test.db'}"


@pytest.fixture(autouse=True)
async def _dispose_engines():
    yield
    await dispose_all()
