"""Which asyncio Task runs the async part of a request's response and end phases.

After ``get()`` returns, Tornado's ``_execute`` finishes the request itself (the auto-finish) as
its last statement; the async response/end hooks then run in the handler's own Task, right after,
with no second Task (``WebHandler._execute``). A ``finish()`` the handler calls itself (not
awaited, as Tornado allows) still runs them in a Task of their own, so the response goes out
while the handler goes on. Real server and client over loopback.
"""

from __future__ import annotations

import asyncio
from typing import Any

from tornadopy import Url, route
from tornadopy.application import Application
from tornadopy.conf import override_settings
from tornadopy.handler import WebHandler
from tornadopy.testing import serve

TASKS: dict[str, Any] = {}


class TaskRecorder:
    async def process_response(self, handler: Any, clear: Any, chunk: list[bytes]) -> None:
        await asyncio.sleep(0)
        TASKS["response"] = asyncio.current_task()

    async def process_endcall(self, handler: Any, clear: Any) -> None:
        await asyncio.sleep(0)
        TASKS["end"] = asyncio.current_task()


class Auto(WebHandler):
    async def get(self) -> None:
        TASKS["handler"] = asyncio.current_task()
        self.write("auto")


class Explicit(WebHandler):
    async def get(self) -> None:
        TASKS["handler"] = asyncio.current_task()
        self.finish("explicit")  # not awaited: the response goes out while get() goes on
        TASKS["after"] = "response" in TASKS
        await asyncio.sleep(0.05)
        TASKS["later"] = "response" in TASKS


async def _get(path: str) -> bytes:
    TASKS.clear()
    with override_settings(MIDDLEWARE_CLASSES=["test_pipeline_tasks.TaskRecorder"]):
        app = Application(urls=route(Url()("/auto", Auto), Url()("/explicit", Explicit)))
        async with serve(app) as client:
            resp = await client.get(path)
            for _ in range(100):
                if "end" in TASKS and (path == "/auto" or "later" in TASKS):
                    break
                await asyncio.sleep(0.01)
    assert resp.code == 200
    return resp.body


async def test_auto_finish_runs_the_async_response_and_end_hooks_in_the_handler_task() -> None:
    assert await _get("/auto") == b"auto"
    assert TASKS["response"] is TASKS["handler"]
    assert TASKS["end"] is TASKS["handler"]


async def test_an_explicit_finish_runs_them_in_a_task_of_their_own() -> None:
    assert await _get("/explicit") == b"explicit"
    assert TASKS["response"] is not TASKS["handler"]
    assert TASKS["end"] is TASKS["response"]
    assert TASKS["after"] is False and TASKS["later"] is True
