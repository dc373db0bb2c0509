"""A model naming the ``default`` connection (its table is never created: raw reads only)."""

from sqlalchemy import Column, Integer

from tornadopy.db.dbalchemy import Model


class Probe(Model):
    __tablename__ = "relsite_probe"
    __connection_name__ = "default"

    id = Column(Integer, primary_key=True)
