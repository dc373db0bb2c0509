"""Databases: :mod:`tornadopy.db.dbalchemy` (SQLAlchemy ORM) and :mod:`tornadopy.db.basedb`
(web.py-style SQL), both on SQLAlchemy's asyncio engines (SPEC §10)."""
