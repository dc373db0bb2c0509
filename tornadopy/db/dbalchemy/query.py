"""``Model.Q``: an awaited query builder, and :class:`Pagination`.

::

    users = await User.Q.filter(User.age > 18).order_by(User.name).limit(10).all()
    page = await User.Q.filter_by(active=True).paginate(page=2, per_page=20)

Builder methods return a new :class:`Query` (the original is unchanged); the terminal methods
(``all``, ``first``, ``one``, ``one_or_none``, ``scalar``, ``get``, ``count``, ``paginate``) are
awaited. They run in the current scope's reading session for the model's connection (so on a
replica unless the request wrote already), or, outside any scope, in a short-lived session of
their own.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from sqlalchemy import Select, func, select

from .session import DBSession, _current, session_scope

T = TypeVar("T")
R = TypeVar("R")


@dataclass
class Pagination(Generic[T]):
    """One page of results: ``items`` plus the numbers a page navigation needs."""

    items: list[T]
    total: int
    page: int
    per_page: int
    pages: int = field(init=False)

    def __post_init__(self) -> None:
        self.pages = math.ceil(self.total / self.per_page) if self.per_page and self.total else 0

    @property
    def has_prev(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.pages

    @property
    def prev_num(self) -> int | None:
        return self.page - 1 if self.has_prev else None

    @property
    def next_num(self) -> int | None:
        return self.page + 1 if self.has_next else None


class Query(Generic[T]):
    """An immutable ``SELECT`` of one model with awaited terminal methods."""

    __slots__ = ("_session", "_statement", "model")

    def __init__(
        self,
        model: type[T],
        statement: Select[Any] | None = None,
        session: DBSession | None = None,
    ) -> None:
        self.model = model
        self._statement = statement  # built on first use: ``get`` needs none
        self._session = session

    @property
    def statement(self) -> Select[Any]:
        """The ``SELECT`` this query runs."""
        statement = self._statement
        if statement is None:
            statement = self._statement = select(self.model)
        return statement

    def __repr__(self) -> str:
        return f"<Query {self.model.__name__}: {self.statement}>"

    def _with(self, statement: Select[Any]) -> Query[T]:
        return Query(self.model, statement, self._session)

    # ------------------------------------------------------------------ builders
    def filter(self, *criterion: Any) -> Query[T]:
        """``WHERE`` the SQL expressions (``User.name == 'jack'``), joined with ``AND``."""
        return self._with(self.statement.where(*criterion))

    where = filter

    def filter_by(self, **kwargs: Any) -> Query[T]:
        """``WHERE`` column equals value for each keyword (``filter_by(name='jack')``)."""
        return self._with(self.statement.filter_by(**kwargs))

    def order_by(self, *clauses: Any) -> Query[T]:
        return self._with(self.statement.order_by(*clauses))

    def limit(self, limit: int | None) -> Query[T]:
        return self._with(self.statement.limit(limit))

    def offset(self, offset: int | None) -> Query[T]:
        return self._with(self.statement.offset(offset))

    def options(self, *options: Any) -> Query[T]:
        """Loader options (``selectinload(User.addresses)``...)."""
        return self._with(self.statement.options(*options))

    def join(self, target: Any, *args: Any, **kwargs: Any) -> Query[T]:
        return self._with(self.statement.join(target, *args, **kwargs))

    def distinct(self, *expr: Any) -> Query[T]:
        return self._with(self.statement.distinct(*expr))

    # ------------------------------------------------------------------ execution
    def _current_session(self) -> DBSession | None:
        """The session to run in: the query's own, else the current scope's (or None)."""
        if self._session is not None:
            return self._session
        scope = _current.get()
        if scope is None:
            return None
        return scope.session(getattr(self.model, "__connection_name__", "default"))

    async def _run(self, work: Callable[[DBSession], Awaitable[R]]) -> R:
        session = self._current_session()
        if session is not None:
            return await work(session)
        name = getattr(self.model, "__connection_name__", "default")
        async with session_scope(name) as session:
            return await work(session)

    async def all(self) -> list[T]:
        """Every row, as model instances."""

        async def work(s: DBSession) -> list[T]:
            return list((await s.scalars(self.statement)).all())

        return await self._run(work)

    async def first(self) -> T | None:
        """The first row or ``None`` (adds ``LIMIT 1``)."""

        async def work(s: DBSession) -> T | None:
            return (await s.scalars(self.statement.limit(1))).first()

        return await self._run(work)

    async def one(self) -> T:
        """Exactly one row, else :class:`sqlalchemy.exc.NoResultFound` / ``MultipleResultsFound``."""

        async def work(s: DBSession) -> T:
            return (await s.scalars(self.statement)).one()

        return await self._run(work)

    async def one_or_none(self) -> T | None:
        async def work(s: DBSession) -> T | None:
            return (await s.scalars(self.statement)).one_or_none()

        return await self._run(work)

    async def get(self, ident: Any) -> T | None:
        """The instance with primary key ``ident`` (from the session's identity map if loaded)."""

        session = self._current_session()  # the common case, without a closure
        if session is not None:
            return await session.get(self.model, ident)

        async def work(s: DBSession) -> T | None:
            return await s.get(self.model, ident)

        return await self._run(work)

    async def count(self) -> int:
        """``SELECT count(*)`` over this query (ordering dropped)."""
        statement = select(func.count()).select_from(self.statement.order_by(None).subquery())

        async def work(s: DBSession) -> int:
            return int(await s.scalar(statement) or 0)

        return await self._run(work)

    async def paginate(
        self, page: int = 1, per_page: int = 10, default: Any = None
    ) -> Pagination[T] | Any:
        """Page ``page`` (from 1) of ``per_page`` items.

        A page before the first, or an empty page after the first, returns ``default``; the
        first page always returns a :class:`Pagination` (with ``total == 0`` when empty).
        """
        page, per_page = int(page), int(per_page)
        if page < 1 or per_page < 1:
            return default
        items = await self.limit(per_page).offset((page - 1) * per_page).all()
        if not items and page != 1:
            return default
        if page == 1 and len(items) < per_page:
            total = len(items)
        else:
            total = await self.limit(None).offset(None).count()
        return Pagination(items, total, page, per_page)
