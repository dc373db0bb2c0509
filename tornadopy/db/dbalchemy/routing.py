"""Master/replica routing inside one ORM session.

:class:`RoutingSession` is the synchronous :class:`~sqlalchemy.orm.Session` behind each
:class:`~tornadopy.db.dbalchemy.session.DBSession`. Its :meth:`~RoutingSession.get_bind` picks the
engine of every statement:

- the master for a flush, an ``INSERT``/``UPDATE``/``DELETE``, DDL, ``SELECT ... FOR UPDATE`` /
  ``FOR SHARE``, and a :func:`~sqlalchemy.text` statement that does not begin with ``SELECT``,
  ``SHOW``, ``DESCRIBE``, ``EXPLAIN``, ``VALUES`` or a ``WITH`` without DML;
- the master for every statement of a master session (``using_master()``);
- the master for reads once the scope (the request) has written to this connection's master
  (read-your-writes);
- otherwise the session's replica: one healthy replica chosen at random on the first read and
  kept while it stays healthy; the master when no replica is configured or healthy.

When connecting to the chosen replica fails, the replica leaves the rotation and the same read
is sent to another healthy replica or the master, so the request does not fail.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session
from sqlalchemy.sql.ddl import ExecutableDDLElement
from sqlalchemy.sql.elements import TextClause

from .engines import get_group

if TYPE_CHECKING:
    from .engines import ConnectionGroup, Replica
    from .session import SessionScope

READ_KEYWORDS = frozenset({"SELECT", "SHOW", "DESCRIBE", "DESC", "EXPLAIN", "VALUES", "WITH"})
_FIRST_WORD = re.compile(
    r"\s*(?:(?:--[^\n]*(?:\n|$)|#[^\n]*(?:\n|$)|/\*.*?\*/)\s*)*\(*\s*(\w+)", re.S
)
_LOCKING = re.compile(
    r"\bFOR\s+(?:UPDATE|SHARE|NO\s+KEY\s+UPDATE|KEY\s+SHARE)\b|\bLOCK\s+IN\s+SHARE\s+MODE\b", re.I
)
_DML = re.compile(r"\b(?:INSERT|UPDATE|DELETE|REPLACE|MERGE)\b", re.I)


def is_write(clause: Any) -> bool:
    """True when ``clause`` must run on the master (see the module docstring)."""
    if clause is None:
        return False
    if getattr(clause, "is_dml", False) or isinstance(clause, ExecutableDDLElement):
        return True
    if getattr(clause, "_for_update_arg", None) is not None:
        return True
    if isinstance(clause, TextClause):
        return is_write_sql(clause.text)
    return False


def is_write_sql(sql: str) -> bool:
    """True unless ``sql`` is a read: it starts with a read keyword and locks nothing."""
    match = _FIRST_WORD.match(sql)
    word = match.group(1).upper() if match is not None else ""
    if word not in READ_KEYWORDS:
        return True
    if word == "WITH" and _DML.search(sql):
        return True  # a CTE in front of INSERT/UPDATE/DELETE
    return bool(_LOCKING.search(sql))


class RoutingSession(Session):
    """A :class:`~sqlalchemy.orm.Session` that sends writes to the master, reads to a replica.

    Its own connection is ``group``; a statement about a model whose ``__connection_name__``
    names another connection is routed to that connection's servers by the same rules.
    """

    def __init__(
        self, *, group: ConnectionGroup, scope: SessionScope, master: bool = False, **kw: Any
    ) -> None:
        super().__init__(**kw)
        self.group = group
        self.scope = scope
        self.is_master = master
        self._groups: dict[str, ConnectionGroup] = {group.name: group}
        self._replicas: dict[str, Replica | None] = {}

    def _group_for(self, mapper: Any) -> ConnectionGroup:
        name = getattr(getattr(mapper, "class_", None), "__connection_name__", None)
        if name is None or name == self.group.name:
            return self.group
        group = self._groups.get(name)
        if group is None:
            group = self._groups[name] = get_group(name)
        return group

    def get_bind(  # type: ignore[override]
        self, mapper: Any = None, *, clause: Any = None, bind: Any = None, **kw: Any
    ) -> Engine:
        if bind is not None:
            return bind  # type: ignore[no-any-return]
        group = self.group if mapper is None else self._group_for(mapper)
        if self._flushing or is_write(clause):
            self.scope.written.add(group.name)
            return group.master.sync_engine
        if self.is_master or group.name in self.scope.written:
            return group.master.sync_engine
        replica = self._replicas.get(group.name)
        if replica is None or not replica.healthy:
            replica = self._replicas[group.name] = group.reader()
        return replica.engine.sync_engine if replica is not None else group.master.sync_engine

    # Private SQLAlchemy hook (stable through 2.0/2.1): where a Session opens its connection to
    # a bind. Overridden only to fall back from a replica that cannot be reached.
    def _connection_for_bind(self, engine: Any, execution_options: Any = None, **kw: Any) -> Any:
        while True:
            try:
                return super()._connection_for_bind(engine, execution_options, **kw)
            except (DBAPIError, OSError, TimeoutError) as exc:
                found = self._replica_of(engine)
                if found is None:
                    raise
                group, replica = found
                replica.mark_down(exc)
                chosen = self._replicas[group.name] = group.reader()
                engine = (chosen.engine if chosen is not None else group.master).sync_engine

    def _replica_of(self, engine: Any) -> tuple[ConnectionGroup, Replica] | None:
        if isinstance(engine, Engine):
            for group in self._groups.values():
                replica = group.replica_for(engine)
                if replica is not None:
                    return group, replica
        return None
