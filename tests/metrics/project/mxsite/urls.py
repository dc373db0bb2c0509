import os

from tornadopy import Url, route
from tornadopy.handler import WebHandler


class Pid(WebHandler):
    def get(self) -> None:
        self.write(str(os.getpid()))


class UseDb(WebHandler):
    async def get(self) -> None:
        from tornadopy.db.dbalchemy import get_engine

        async with get_engine().connect() as conn:
            await conn.exec_driver_sql("SELECT 1")
        self.write(str(os.getpid()))


urls = route(Url("")(r"/pid", Pid, name="Pid"), Url("")(r"/db", UseDb, name="Db"))
