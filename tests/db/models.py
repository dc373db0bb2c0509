"""Models shared by the database tests (one definition per table in ``Model.metadata``)."""

from sqlalchemy import Column, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from tornadopy.db.dbalchemy import Model


class BaseModel(Model):
    """The seed's pattern: an abstract base naming the connection and the primary key."""

    __abstract__ = True
    __connection_name__ = "default"

    id = Column("id", Integer, primary_key=True, autoincrement=True)


class Item(BaseModel):
    __tablename__ = "tpdb_items"

    name = Column(String(64), nullable=False)
    qty = Column(Integer, nullable=False, default=0)


class Note(Model):
    """Annotated style, on another connection."""

    __tablename__ = "tpdb_notes"
    __connection_name__ = "other"

    id: Mapped[int] = mapped_column(primary_key=True)
    text: Mapped[str] = mapped_column(String(200))
