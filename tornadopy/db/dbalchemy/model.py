"""``Model``: the declarative base of tornadopy models, and table set-up per connection.

::

    from sqlalchemy import Column, Integer, String
    from tornadopy.db.dbalchemy import Model

    class BaseModel(Model):
        __abstract__ = True
        __connection_name__ = 'default'          # a key of DATABASE_CONNECTION
        id = Column(Integer, primary_key=True)

    class User(BaseModel):
        __tablename__ = 'users'
        name = Column(String(10), nullable=False)

    await create_all('default')                  # CREATE TABLE for that connection's models
    user = await User.Q.filter_by(name='jack').first()
    User.session.add(User(name='rose'))          # the request's session ...
    await User.session.commit()                  # ... whose flush goes to the master

Annotated ``Mapped[...]`` columns work too (it is a SQLAlchemy 2 ``DeclarativeBase``).
"""

from __future__ import annotations

from typing import Any, ClassVar

from sqlalchemy import MetaData, Table
from sqlalchemy.orm import DeclarativeBase

from .engines import get_group
from .query import Query
from .session import DBSession, current_scope


class _SessionAttribute:
    """``Model.session``: the current scope's reading session for the model's connection."""

    def __get__(self, instance: Any, owner: type) -> DBSession:
        return current_scope().session(owner.__connection_name__)  # type: ignore[attr-defined]


class _QueryAttribute:
    """``Model.Q``: a fresh :class:`~tornadopy.db.dbalchemy.query.Query` of the model."""

    def __get__(self, instance: Any, owner: type) -> Query[Any]:
        return Query(owner)


class Model(DeclarativeBase):
    """Declarative base: ``__connection_name__`` picks the ``DATABASE_CONNECTION`` entry.

    ``Model.Q`` builds awaited queries, ``Model.session`` is the request's
    :class:`~sqlalchemy.ext.asyncio.AsyncSession` (reads on a replica, flushes on the master),
    ``Model.session.using_master()`` the master session.
    """

    __connection_name__: ClassVar[str] = "default"

    session: ClassVar[_SessionAttribute] = _SessionAttribute()
    Q: ClassVar[_QueryAttribute] = _QueryAttribute()


def tables_of(connection_name: str = "default", metadata: MetaData | None = None) -> list[Table]:
    """The tables of ``Model.metadata`` that belong to ``connection_name``.

    A mapped class's table belongs to its ``__connection_name__``; a plain :class:`Table` of the
    metadata belongs to ``table.info['connection_name']`` (``'default'`` when absent).
    """
    metadata = Model.metadata if metadata is None else metadata
    owner: dict[Table, str] = {}
    for mapper in Model.registry.mappers:
        name = getattr(mapper.class_, "__connection_name__", "default")
        for table in mapper.tables:
            if isinstance(table, Table):
                owner.setdefault(table, name)
    return [
        t
        for t in metadata.sorted_tables
        if owner.get(t, t.info.get("connection_name", "default")) == connection_name
    ]


async def create_all(connection_name: str = "default", *, checkfirst: bool = True) -> None:
    """``CREATE TABLE`` (if missing) every table of ``connection_name``, on its master."""
    tables = tables_of(connection_name)
    engine = get_group(connection_name).master
    async with engine.begin() as conn:
        await conn.run_sync(Model.metadata.create_all, tables=tables, checkfirst=checkfirst)


async def drop_all(connection_name: str = "default", *, checkfirst: bool = True) -> None:
    """``DROP TABLE`` (if present) every table of ``connection_name``, on its master."""
    tables = tables_of(connection_name)
    engine = get_group(connection_name).master
    async with engine.begin() as conn:
        await conn.run_sync(Model.metadata.drop_all, tables=tables, checkfirst=checkfirst)
