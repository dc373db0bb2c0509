"""``basedb``: web.py's light database API, awaited (SPEC §10).

::

    from tornadopy.db import basedb

    db = basedb.database(url='mysql+aiomysql://root@127.0.0.1/test')   # not awaited
    # or web.py's keywords: basedb.database(dbn='mysql', db='test', user='root', pw='', host=...)
    # or a DATABASE_CONNECTION entry's master: basedb.database(connection='default')

    uid = await db.insert('users', name="x' OR '1'='1", age=3)         # -> new id
    rows = await db.select('users', where='age > $age', vars={'age': 2}, order='id DESC')
    rows[0].name, rows[0]['name']                                        # dicts with attributes
    await db.update('users', where='id = $id', vars={'id': uid}, age=4)  # -> rows matched
    await db.delete('users', where='id IN $ids', vars={'ids': [1, 2]})   # -> rows deleted
    await db.query('SELECT count(*) AS n FROM users WHERE name = $n', vars={'n': 'x'})
    async with db.transaction():
        ...                                 # every call of `db` in this task joins it

Rules:

- ``$name`` in SQL is always a bound parameter of the driver, never pasted into the text; a
  list/tuple/set value becomes ``($a, $b, ...)`` (for ``IN``), an empty one ``(NULL)``.
  ``$`` inside quoted strings is left alone, ``$$`` is a literal ``$``. A ``$name`` missing from
  ``vars`` raises :class:`KeyError`. :class:`SQLLiteral` values are pasted as written (for
  ``NOW()``, ``count + 1``).
- ``where`` is SQL text with ``$vars``, a dict (``{'a': 1, 'b': 2}`` -> ``a = $ AND b = $``) or an
  int (``id = $``). ``update``/``delete`` refuse an empty ``where``: pass ``where='1=1'`` to touch
  every row. Table names and ``what``/``order``/``group`` are SQL written by the programmer --
  never put user input there.
- ``query`` returns a list of rows for statements that return rows, else the affected row count.
- Outside a transaction each call checks out a connection, runs and returns the connection; a
  write is committed. ``async with db.transaction()`` holds one connection for the block; nested
  blocks are savepoints. A transaction belongs to the task that opened it: tasks started inside
  the block (``asyncio.gather``...) run their statements outside it, on their own connections.
- On MySQL/MariaDB over aiomysql or asyncmy, a ``DB`` made from a URL or web.py's keywords owns an
  engine whose connections run in autocommit (``isolation_level='AUTOCOMMIT'``): a statement
  outside a transaction is one round trip, and ``db.transaction()`` sends ``BEGIN`` (nested:
  ``SAVEPOINT``) and ``COMMIT``/``ROLLBACK`` itself. ``database(connection=...)`` shares the
  ORM's master engine (autocommit off): a read outside a transaction is followed by a
  ``ROLLBACK`` (two round trips). docs/db.md, "basedb", has the details.
- Engines come from the same per-process, per-event-loop machinery as
  :mod:`tornadopy.db.dbalchemy` (``SQLALCHEMY_CONFIGURATION`` applies; ``dispose_all()`` closes
  them).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Iterable, Mapping, Sequence
from contextvars import ContextVar, Token
from types import TracebackType
from typing import Any

from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError, PendingRollbackError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncTransaction
from sqlalchemy.util import greenlet_spawn

from tornadopy.conf import settings
from tornadopy.db.dbalchemy.config import EngineSpec, async_url, engine_options
from tornadopy.db.dbalchemy.engines import EngineRegistry, registry
from tornadopy.db.dbalchemy.routing import is_write_sql
from tornadopy.db.dbalchemy.session import run_to_completion
from tornadopy.exception import ImproperlyConfigured

__all__ = ["DB", "Row", "SQLLiteral", "Transaction", "database", "sqlquery"]

#: web.py ``dbn`` -> SQLAlchemy asyncio driver
DBN_DRIVERS = {
    "mysql": "mysql+aiomysql",
    "postgres": "postgresql+asyncpg",
    "postgresql": "postgresql+asyncpg",
    "sqlite": "sqlite+aiosqlite",
}


class Row(dict):  # type: ignore[type-arg]
    """A result row: a dict whose keys are also attributes (``row.name``)."""

    __slots__ = ()

    def __getattr__(self, key: str) -> Any:
        try:
            return self[key]
        except KeyError:
            raise AttributeError(key) from None

    def __setattr__(self, key: str, value: Any) -> None:
        self[key] = value

    def __delattr__(self, key: str) -> None:
        try:
            del self[key]
        except KeyError:
            raise AttributeError(key) from None


class SQLLiteral:
    """SQL written by the programmer, pasted as is (``SQLLiteral('NOW()')``)."""

    __slots__ = ("sql",)

    def __init__(self, sql: str) -> None:
        self.sql = sql

    def __repr__(self) -> str:
        return f"SQLLiteral({self.sql!r})"


class _Param:
    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


# A query under construction: literal SQL text and parameters, rendered for a paramstyle at the end.
Part = str | _Param
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$")


def _value_parts(value: Any) -> list[Part]:
    if isinstance(value, SQLLiteral):
        return [value.sql]
    if isinstance(value, (list, tuple, set, frozenset)):
        items = list(value)
        if not items:
            return ["(NULL)"]
        parts: list[Part] = ["("]
        for i, item in enumerate(items):
            if i:
                parts.append(", ")
            parts.append(_Param(item))
        parts.append(")")
        return parts
    return [_Param(value)]


def reparam(sql: str, vars: Mapping[str, Any] | None) -> list[Part]:
    """Split ``sql`` into text and parameters: each ``$name`` becomes a bound ``vars[name]``."""
    vars = vars or {}
    parts: list[Part] = []
    text: list[str] = []
    i, n = 0, len(sql)
    quote: str | None = None
    while i < n:
        ch = sql[i]
        if quote is not None:
            text.append(ch)
            if ch == "\\" and quote != "`" and i + 1 < n:
                text.append(sql[i + 1])
                i += 2
                continue
            if ch == quote:
                quote = None
            i += 1
            continue
        if ch in "'\"`":
            quote = ch
            text.append(ch)
            i += 1
            continue
        if ch == "$":
            if sql.startswith("$$", i):
                text.append("$")
                i += 2
                continue
            match = _NAME.match(sql, i + 1)
            if match is not None:
                name = match.group(0)
                if name not in vars:
                    raise KeyError(f"${name} is used in the SQL but not given in vars")
                if text:
                    parts.append("".join(text))
                    text = []
                parts.extend(_value_parts(vars[name]))
                i = match.end()
                continue
        text.append(ch)
        i += 1
    if text:
        parts.append("".join(text))
    return parts


def render(parts: Iterable[Part], paramstyle: str) -> tuple[str, Any]:
    """SQL text with the driver's placeholders, and the parameters to send with it."""
    out: list[str] = []
    params: list[Any] = []
    escape_percent = paramstyle in ("format", "pyformat")
    for part in parts:
        if isinstance(part, _Param):
            params.append(part.value)
            k = len(params)
            if paramstyle == "qmark":
                out.append("?")
            elif paramstyle == "format":
                out.append("%s")
            elif paramstyle == "numeric_dollar":
                out.append(f"${k}")
            elif paramstyle == "numeric":
                out.append(f":{k}")
            elif paramstyle == "pyformat":
                out.append(f"%(p{k})s")
            else:  # named
                out.append(f":p{k}")
        else:
            out.append(part.replace("%", "%%") if escape_percent else part)
    if paramstyle in ("pyformat", "named"):
        return "".join(out), {f"p{k}": v for k, v in enumerate(params, 1)}
    return "".join(out), tuple(params)


def sqlquery(
    sql: str, vars: Mapping[str, Any] | None = None, paramstyle: str = "qmark"
) -> tuple[str, Any]:
    """What :meth:`DB.query` would send: ``(sql_with_placeholders, params)``."""
    return render(reparam(sql, vars), paramstyle)


def _where_parts(where: Any, vars: Mapping[str, Any] | None) -> list[Part]:
    if isinstance(where, bool):
        raise TypeError("where must be SQL text, a dict or an int, not a bool")
    if isinstance(where, int):
        return ["id = ", _Param(where)]
    if isinstance(where, Mapping):
        parts: list[Part] = []
        for i, (column, value) in enumerate(where.items()):
            if i:
                parts.append(" AND ")
            parts.append(f"{_column(column)} = ")
            parts.extend(_value_parts(value))
        return parts
    if isinstance(where, SQLLiteral):
        return [where.sql]
    return reparam(str(where), vars)


def _column(name: str) -> str:
    if not _IDENTIFIER.match(name):
        raise ValueError(f"{name!r} is not a column name")
    return name


def _tables(tables: str | Sequence[str]) -> str:
    return tables if isinstance(tables, str) else ", ".join(tables)


class DB:
    """A web.py-style database handle; see the module docstring. Make it with :func:`database`."""

    def __init__(
        self,
        spec: EngineSpec | None = None,
        connection: str | None = None,
        *,
        autocommit: bool = False,
    ) -> None:
        if (spec is None) == (connection is None):
            raise TypeError("DB needs an engine spec or a connection name")
        self.spec = spec
        self.connection = connection
        #: the engine's connections run in autocommit (MySQL drivers; see :func:`database`)
        self.autocommit = autocommit and spec is not None
        # the current transaction and the task that opened it (tasks started inside the block
        # inherit the variable, but not the transaction: they run outside it)
        self._tx: ContextVar[_TxEntry | None] = ContextVar(f"basedb_tx_{id(self)}", default=None)
        # the engine of the last registry (event loop) that asked; a new registry (another
        # loop, a fork, dispose_all()) looks it up again
        self._engine: tuple[EngineRegistry, AsyncEngine] | None = None

    def __repr__(self) -> str:
        where = self.spec.label if self.spec is not None else f"connection {self.connection!r}"
        return f"<basedb.DB {where}>"

    @property
    def engine(self) -> AsyncEngine:
        """The engine of the running event loop (made on first use)."""
        reg = registry()
        cached = self._engine
        if cached is not None and cached[0] is reg:
            return cached[1]
        if self.spec is not None:
            engine = reg.url_engine(self.spec)
        else:
            engine = reg.group(self.connection or "default").master
        self._engine = (reg, engine)
        return engine

    @property
    def dialect_name(self) -> str:
        return self.engine.dialect.name

    # ------------------------------------------------------------------ execution
    def _current_tx(self) -> AsyncConnection | _NativeTx | None:
        """The transaction of the running task, if it opened one."""
        entry = self._tx.get()
        if entry is None or entry[0] is not asyncio.current_task():
            return None
        return entry[1]

    async def _execute(self, parts: list[Part], *, write: bool) -> Any:
        engine = self.engine
        dialect = engine.dialect
        sql, params = render(parts, dialect.paramstyle)
        conn = self._current_tx()
        if conn is not None:
            if isinstance(conn, _NativeTx):
                return await conn.run(sql, params)
            return await self._run(conn, sql, params)
        if dialect.driver in NATIVE_DRIVERS:
            return await _native_once(
                engine, sql, params, write, _cursor_class(dialect), self.autocommit
            )
        async with engine.connect() as conn:
            result = await self._run(conn, sql, params)
            if write or not isinstance(result, list):
                await conn.commit()
            return result

    @staticmethod
    async def _run(conn: AsyncConnection, sql: str, params: Any) -> Any:
        result = await conn.exec_driver_sql(sql, params)
        if result.returns_rows:
            keys = list(result.keys())
            return [Row(zip(keys, row, strict=True)) for row in result.fetchall()]
        return result

    async def query(self, sql: str, vars: Mapping[str, Any] | None = None) -> Any:
        """Run ``sql`` (``$name`` bound from ``vars``): a list of :class:`Row` for statements
        returning rows, else the number of affected rows."""
        result = await self._execute(reparam(sql, vars), write=is_write_sql(sql))
        if isinstance(result, list):
            return result
        return result.rowcount

    async def select(
        self,
        tables: str | Sequence[str],
        vars: Mapping[str, Any] | None = None,
        what: str = "*",
        where: Any = None,
        order: str | None = None,
        group: str | None = None,
        limit: int | None = None,
        offset: int | None = None,
        having: str | None = None,
    ) -> list[Row]:
        """``SELECT what FROM tables [WHERE] [GROUP BY] [HAVING] [ORDER BY] [LIMIT] [OFFSET]``."""
        parts: list[Part] = [f"SELECT {what} FROM {_tables(tables)}"]
        if where is not None and where != "":
            parts.append(" WHERE ")
            parts.extend(_where_parts(where, vars))
        if group:
            parts.append(" GROUP BY ")
            parts.extend(reparam(group, vars))
        if having:
            parts.append(" HAVING ")
            parts.extend(reparam(having, vars))
        if order:
            parts.append(" ORDER BY ")
            parts.extend(reparam(order, vars))
        if limit is not None:
            parts.append(f" LIMIT {int(limit)}")
        if offset is not None:
            if limit is None and self.dialect_name in ("mysql", "mariadb", "sqlite"):
                parts.append(
                    " LIMIT 18446744073709551615" if self.dialect_name != "sqlite" else " LIMIT -1"
                )
            parts.append(f" OFFSET {int(offset)}")
        return await self._execute(parts, write=False)  # type: ignore[no-any-return]

    async def where(
        self,
        table: str,
        what: str = "*",
        order: str | None = None,
        group: str | None = None,
        limit: int | None = None,
        offset: int | None = None,
        **kwargs: Any,
    ) -> list[Row]:
        """``select`` with ``column=value`` keywords as the condition (web.py's ``db.where``)."""
        return await self.select(
            table,
            what=what,
            where=kwargs or None,
            order=order,
            group=group,
            limit=limit,
            offset=offset,
        )

    async def insert(self, table: str, seqname: str | bool | None = None, **values: Any) -> Any:
        """``INSERT`` one row; returns its new id (``None`` with ``seqname=False``)."""
        parts = self._insert_parts(table, [values])
        if self.dialect_name == "postgresql" and seqname is not False:
            parts.append(f" RETURNING {seqname if isinstance(seqname, str) else 'id'}")
            rows = await self._execute(parts, write=True)
            return next(iter(rows[0].values())) if rows else None
        result = await self._execute(parts, write=True)
        return None if seqname is False else result.lastrowid

    async def multiple_insert(
        self, table: str, values: Sequence[Mapping[str, Any]], seqname: str | bool | None = None
    ) -> list[Any] | None:
        """``INSERT`` several rows (same columns) in one statement; returns their ids."""
        values = list(values)
        if not values:
            return []
        parts = self._insert_parts(table, values)
        n = len(values)
        if self.dialect_name == "postgresql" and seqname is not False:
            parts.append(f" RETURNING {seqname if isinstance(seqname, str) else 'id'}")
            rows = await self._execute(parts, write=True)
            return [next(iter(r.values())) for r in rows]
        result = await self._execute(parts, write=True)
        if seqname is False or not result.lastrowid:
            return None
        if self.dialect_name == "sqlite":  # lastrowid is the last row's id
            return list(range(result.lastrowid - n + 1, result.lastrowid + 1))
        return list(range(result.lastrowid, result.lastrowid + n))  # MySQL: the first row's id

    def _insert_parts(self, table: str, rows: list[Mapping[str, Any]]) -> list[Part]:
        columns = list(rows[0])
        if any(set(r) != set(columns) for r in rows[1:]):
            raise ValueError("multiple_insert: every row needs the same columns")
        if not columns:
            if self.dialect_name in ("mysql", "mariadb"):
                return [f"INSERT INTO {table} () VALUES " + ", ".join(["()"] * len(rows))]
            if len(rows) > 1:
                raise ValueError("multiple_insert of empty rows is only supported on MySQL")
            return [f"INSERT INTO {table} DEFAULT VALUES"]
        parts: list[Part] = [
            f"INSERT INTO {table} ({', '.join(_column(c) for c in columns)}) VALUES "
        ]
        for i, row in enumerate(rows):
            parts.append(", (" if i else "(")
            for j, column in enumerate(columns):
                if j:
                    parts.append(", ")
                value = row[column]
                parts.extend([value.sql] if isinstance(value, SQLLiteral) else [_Param(value)])
            parts.append(")")
        return parts

    async def update(
        self,
        tables: str | Sequence[str],
        where: Any,
        vars: Mapping[str, Any] | None = None,
        **values: Any,
    ) -> int:
        """``UPDATE tables SET column = value, ... WHERE where``; returns the rows matched."""
        if not values:
            raise ValueError("update() needs at least one column=value")
        parts: list[Part] = [f"UPDATE {_tables(tables)} SET "]
        for i, (column, value) in enumerate(values.items()):
            parts.append(f"{', ' if i else ''}{_column(column)} = ")
            parts.extend([value.sql] if isinstance(value, SQLLiteral) else [_Param(value)])
        parts.append(" WHERE ")
        parts.extend(self._required_where(where, vars, "update"))
        result = await self._execute(parts, write=True)
        return int(result.rowcount)

    async def delete(
        self,
        table: str,
        where: Any,
        using: str | None = None,
        vars: Mapping[str, Any] | None = None,
    ) -> int:
        """``DELETE FROM table [USING using] WHERE where``; returns the rows deleted."""
        parts: list[Part] = [f"DELETE FROM {table}"]
        if using:
            parts.append(f" USING {using}")
        parts.append(" WHERE ")
        parts.extend(self._required_where(where, vars, "delete"))
        result = await self._execute(parts, write=True)
        return int(result.rowcount)

    @staticmethod
    def _required_where(where: Any, vars: Mapping[str, Any] | None, what: str) -> list[Part]:
        if where is None or where == "" or where == {}:
            raise ValueError(f"{what}() without a where condition; pass where='1=1' for every row")
        return _where_parts(where, vars)

    # ------------------------------------------------------------------ transactions
    def transaction(self) -> Transaction:
        """``async with db.transaction():`` -- commit at the end, roll back on an exception."""
        return Transaction(self)


#: drivers whose pooled connections basedb talks to directly (see :func:`_native_once`)
NATIVE_DRIVERS = frozenset({"aiomysql", "asyncmy"})
MYSQL_DIALECTS = frozenset({"mysql", "mariadb"})


class _Outcome:
    """What a statement without rows left: ``rowcount`` and ``lastrowid``."""

    __slots__ = ("lastrowid", "rowcount")

    def __init__(self, rowcount: int, lastrowid: Any) -> None:
        self.rowcount = rowcount
        self.lastrowid = lastrowid


def _cursor_class(dialect: Any) -> Any:
    """SQLAlchemy's aiomysql cursor class (no ``SHOW WARNINGS`` round trip after a note)."""
    return getattr(dialect.loaded_dbapi, "Cursor", None) if dialect.driver == "aiomysql" else None


async def _native_run(driver: Any, sql: str, params: Any, cursor_class: Any = None) -> Any:
    """Run one statement on a MySQL driver connection (aiomysql or asyncmy), natively."""
    cursor = driver.cursor(cursor_class) if cursor_class is not None else driver.cursor()
    if not hasattr(cursor, "execute"):
        cursor = await cursor  # aiomysql: a context manager around a coroutine
    try:
        await cursor.execute(sql, params or None)
        description = cursor.description
        if description:
            keys = [d[0] for d in description]
            return [Row(zip(keys, row, strict=True)) for row in await cursor.fetchall()]
        return _Outcome(cursor.rowcount, cursor.lastrowid)
    finally:
        await cursor.close()


async def _native_once(
    engine: AsyncEngine,
    sql: str,
    params: Any,
    write: bool,
    cursor_class: Any = None,
    autocommit: bool = False,
) -> Any:
    """One statement outside a transaction, on a connection of ``engine``'s pool.

    The connection comes from the same pool (pool events, the liveness check and the query
    killer apply) but the statement goes straight through the driver, without SQLAlchemy's
    statement machinery, and the connection goes back to the pool as already reset:

    - on an autocommit engine (``autocommit``): the statement alone, one round trip (plus a
      ``ROLLBACK`` only if the statement left a transaction open, e.g. ``START TRANSACTION``
      sent through :meth:`DB.query`: the server's status flags say so, without a round trip);
    - otherwise the statement, then the ``COMMIT`` (a write) or the ``ROLLBACK`` that ends a
      read's snapshot: two round trips.
    """
    fairy = await engine.raw_connection()
    driver: Any = fairy.driver_connection
    try:
        result = await _native_run(driver, sql, params, cursor_class)
        if autocommit:
            if driver.get_transaction_status():
                await driver.rollback()
        elif write or not isinstance(result, list):
            await driver.commit()
        else:
            await driver.rollback()
    except BaseException as exc:
        invalidated = await run_to_completion(_release_failed(fairy, driver, exc, autocommit))
        if isinstance(exc, Exception):
            raise _translate(exc, sql, params, driver, invalidated) from exc
        raise
    fairy._close_special(transaction_reset=True)  # type: ignore[attr-defined]
    return result


def _server_error(exc: BaseException, driver: Any) -> bool:
    """True for an error the server answered (a duplicate key, bad SQL): the link is fine."""
    error = getattr(driver, "Error", None)
    code = exc.args[0] if exc.args else None
    return error is not None and isinstance(exc, error) and isinstance(code, int) and code < 2000


async def _release_failed(
    fairy: Any, driver: Any, exc: BaseException, autocommit: bool = False
) -> bool:
    """Give the connection of a failed statement back: rolled back, or invalidated (True).

    On an autocommit connection a single statement that failed on the server left no transaction
    (the statement before it was checked out clean), so no ``ROLLBACK`` is sent.
    """
    if _server_error(exc, driver):
        try:
            if not autocommit:
                await driver.rollback()
        except Exception:
            pass
        else:
            fairy._close_special(transaction_reset=True)
            return False
    # lost, cancelled mid-statement (the query killer ends it on the server), or unknown state
    await greenlet_spawn(fairy.invalidate, exc)
    return True


def _translate(
    exc: Exception, sql: str, params: Any, driver: Any, invalidated: bool = False
) -> Exception:
    """A driver error as SQLAlchemy's exception of the same name (``IntegrityError``...)."""
    error = getattr(driver, "Error", None)
    if error is None or not isinstance(exc, error):
        return exc
    return DBAPIError.instance(sql, params, exc, error, connection_invalidated=invalidated)


#: MySQL's ER_LOCK_DEADLOCK: the server rolled the whole transaction back
_DEADLOCK = 1213


class _NativeTx:
    """A transaction on one pooled aiomysql/asyncmy connection, driven through the driver.

    On an autocommit engine it starts with ``BEGIN``; otherwise (the ORM's engines) the first
    statement starts it implicitly. Nested blocks are ``SAVEPOINT``\\ s. A statement that failed
    without a server answer (lost connection, cancelled mid-statement) leaves the connection in
    an unknown state: it is marked ``broken``, later statements raise, and the end invalidates
    the connection (with the cancellation as the reason, so the query killer ends the statement
    and the transaction's locks on the server). A server error (duplicate key, bad SQL) leaves the
    transaction usable, as MySQL rolls back only that statement -- except a deadlock, after which
    the server rolled back everything: the transaction is ``doomed`` and can only roll back.
    """

    __slots__ = ("autocommit", "broken", "cursor_class", "doomed", "driver", "fairy", "savepoints")

    def __init__(self, fairy: Any, cursor_class: Any, autocommit: bool) -> None:
        self.fairy: Any = fairy
        self.driver: Any = fairy.driver_connection
        self.cursor_class = cursor_class
        self.autocommit = autocommit
        self.broken: BaseException | None = None
        self.doomed = False
        self.savepoints = 0

    @classmethod
    async def open(cls, engine: AsyncEngine, autocommit: bool) -> _NativeTx:
        fairy = await engine.raw_connection()
        tx = cls(fairy, _cursor_class(engine.dialect), autocommit)
        if autocommit:
            try:
                await tx.driver.begin()
            except BaseException as exc:
                invalidated = await run_to_completion(
                    _release_failed(fairy, tx.driver, exc, autocommit)
                )
                if isinstance(exc, Exception):
                    raise _translate(exc, "BEGIN", None, tx.driver, invalidated) from exc
                raise
        return tx

    def _check(self) -> None:
        if self.fairy is None:
            raise PendingRollbackError("this basedb transaction is over")
        if self.broken is not None:
            raise PendingRollbackError(
                f"this basedb transaction's connection failed ({self.broken!r}); "
                "it is rolled back when its block ends"
            )
        if self.doomed:
            raise PendingRollbackError(
                "the server rolled this basedb transaction back (deadlock); "
                "it can only be rolled back"
            )

    async def run(self, sql: str, params: Any) -> Any:
        self._check()
        driver = self.driver
        try:
            if self.autocommit and not driver.get_transaction_status():
                # a statement with an implicit commit (DDL) ended the transaction; without
                # autocommit the next statement would open a new one: do the same
                await driver.begin()
            return await _native_run(driver, sql, params, self.cursor_class)
        except BaseException as exc:
            self._failed(exc)
            if isinstance(exc, Exception):
                raise _translate(exc, sql, params, driver) from exc
            raise

    def _failed(self, exc: BaseException) -> None:
        if not _server_error(exc, self.driver):
            self.broken = exc
        elif exc.args[0] == _DEADLOCK:
            self.doomed = True

    async def _command(self, sql: str) -> None:
        await self.run(sql, None)  # after an implicit commit, BEGIN first (as for a statement)

    async def savepoint(self) -> str:
        """Set a new savepoint; returns its name."""
        self._check()
        self.savepoints += 1
        name = f"tpdb_sp_{self.savepoints}"
        await self._command(f"SAVEPOINT {name}")
        return name

    async def end_savepoint(self, name: str, commit: bool) -> None:
        """``RELEASE`` the savepoint ``name`` (``commit``) or roll back to it."""
        if self.fairy is None or self.broken is not None or self.doomed:
            if commit:
                self._check()
            return  # the outer block's end rolls back
        if commit:
            try:
                await self._command(f"RELEASE SAVEPOINT {name}")
                return
            except Exception:
                if self.broken is None and not self.doomed:
                    with contextlib.suppress(Exception):
                        await self._command(f"ROLLBACK TO SAVEPOINT {name}")
                raise
        await self._command(f"ROLLBACK TO SAVEPOINT {name}")

    async def end(self, commit: bool) -> None:
        """Commit or roll back, and give the connection back to the pool."""
        fairy, self.fairy = self.fairy, None
        if fairy is None:
            return
        driver = self.driver
        if self.broken is not None:
            await greenlet_spawn(fairy.invalidate, self.broken)
            if commit:
                raise PendingRollbackError(
                    f"this basedb transaction's connection failed ({self.broken!r}); "
                    "nothing was committed"
                )
            return
        try:
            if commit and not self.doomed:
                await driver.commit()
            else:
                await driver.rollback()
        except BaseException as exc:
            invalidated = await _release_failed(fairy, driver, exc)
            if isinstance(exc, Exception):
                what = "COMMIT" if commit else "ROLLBACK"
                raise _translate(exc, what, None, driver, invalidated) from exc
            raise
        fairy._close_special(transaction_reset=True)
        if commit and self.doomed:
            raise PendingRollbackError(
                "the server rolled this basedb transaction back (deadlock); nothing was committed"
            )


_TxEntry = tuple["asyncio.Task[Any] | None", "AsyncConnection | _NativeTx"]


class Transaction:
    """A transaction (or, nested, a savepoint) of a :class:`DB` in the current task."""

    def __init__(self, db: DB) -> None:
        self.db = db
        self._conn: AsyncConnection | None = None
        self._owned = False
        self._trans: AsyncTransaction | None = None
        self._native: _NativeTx | None = None
        self._savepoint: str | None = None
        self._token: Token[_TxEntry | None] | None = None

    async def __aenter__(self) -> Transaction:
        await self.start()
        return self

    async def __aexit__(
        self, typ: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._trans is None and self._native is None:
            return
        await self._end(commit=typ is None)

    async def start(self) -> Transaction:
        """Begin (``async with`` calls it); returns the transaction."""
        outer = self.db._current_tx()
        if isinstance(outer, _NativeTx):
            self._savepoint = await outer.savepoint()
            self._native = outer
        elif outer is not None:
            self._conn = outer
            self._trans = await outer.begin_nested()
        else:
            engine = self.db.engine
            if engine.dialect.driver in NATIVE_DRIVERS:
                tx = await _NativeTx.open(engine, self.db.autocommit)
                self._native, self._owned = tx, True
                self._token = self.db._tx.set((asyncio.current_task(), tx))
                return self
            conn = await engine.connect()
            try:
                self._trans = await conn.begin()
            except BaseException:
                await run_to_completion(conn.close())
                raise
            self._conn, self._owned = conn, True
            self._token = self.db._tx.set((asyncio.current_task(), conn))
        return self

    async def commit(self) -> None:
        """Commit now (the block's end then does nothing more)."""
        await self._end(commit=True)

    async def rollback(self) -> None:
        """Roll back now (the block's end then does nothing more)."""
        await self._end(commit=False)

    async def _end(self, *, commit: bool) -> None:
        # the context variable is reset here, in the caller's context; the database work runs
        # to completion even if the caller is cancelled meanwhile
        token, self._token = self._token, None
        if token is not None:
            with contextlib.suppress(ValueError):
                self.db._tx.reset(token)
        native, self._native = self._native, None
        if native is not None:
            owned, savepoint = self._owned, self._savepoint
            self._owned, self._savepoint = False, None
            if owned:
                await run_to_completion(native.end(commit))
            elif savepoint is not None:
                await run_to_completion(native.end_savepoint(savepoint, commit))
            return
        trans, self._trans = self._trans, None
        conn, owned = self._conn, self._owned
        self._conn, self._owned = None, False
        try:
            await run_to_completion(self._finish(trans, conn if owned else None, commit))
        except BaseException:
            if commit and trans is not None and not owned and trans.is_active:
                await run_to_completion(trans.rollback())
            raise

    @staticmethod
    async def _finish(
        trans: AsyncTransaction | None, conn: AsyncConnection | None, commit: bool
    ) -> None:
        """End ``trans``; close ``conn`` (the outermost transaction's own connection)."""
        try:
            if trans is not None and trans.is_active:
                if commit:
                    await trans.commit()
                else:
                    await trans.rollback()
        except BaseException:
            if conn is not None:
                with contextlib.suppress(Exception):
                    await conn.invalidate()
            raise
        finally:
            if conn is not None:
                with contextlib.suppress(Exception):
                    await conn.close()


def database(
    url: str | URL | None = None,
    *,
    dburl: str | URL | None = None,
    connection: str | None = None,
    dbn: str | None = None,
    db: str | None = None,
    user: str | None = None,
    pw: str | None = None,
    host: str | None = None,
    port: int | None = None,
    **options: Any,
) -> DB:
    """A :class:`DB` (not awaited; nothing connects until the first query).

    Give one of: ``url`` (a SQLAlchemy asyncio URL), web.py's ``dbn``/``db``/``user``/``pw``/
    ``host``/``port``, or ``connection`` (the master of a ``DATABASE_CONNECTION`` entry).
    Extra keywords are engine options, over ``SQLALCHEMY_CONFIGURATION``.
    """
    url = url if url is not None else dburl
    if connection is not None:
        if url is not None or dbn is not None:
            raise TypeError("database(): give either connection= or a url/dbn, not both")
        return DB(connection=connection)
    if url is None:
        if not dbn:
            raise ImproperlyConfigured("basedb.database() needs url=..., dbn=... or connection=...")
        driver = DBN_DRIVERS.get(dbn, dbn)
        url = URL.create(
            driver,
            username=user or None,
            password=pw or None,
            host=host or None,
            port=int(port) if port else None,
            database=db or None,
        )
    where = "basedb.database()"
    async_ = async_url(url, where)
    config = dict(settings.SQLALCHEMY_CONFIGURATION or {})
    config.update(options)
    engine_kw = engine_options(async_, config, where)
    autocommit = False
    if async_.get_backend_name() in MYSQL_DIALECTS and async_.get_driver_name() in NATIVE_DRIVERS:
        # basedb's own engine: single statements need no COMMIT/ROLLBACK (see _native_once);
        # an explicit isolation_level keeps the engine transactional (two round trips)
        engine_kw.setdefault("isolation_level", "AUTOCOMMIT")
        if engine_kw["isolation_level"] == "AUTOCOMMIT":
            autocommit = True
            # connect in autocommit (the server's default): no SET AUTOCOMMIT at connect
            connect_args = dict(engine_kw.get("connect_args") or {})
            connect_args.setdefault("autocommit", True)
            engine_kw["connect_args"] = connect_args
    return DB(EngineSpec(async_, engine_kw), autocommit=autocommit)
