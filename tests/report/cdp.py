"""A small Chrome DevTools Protocol client over aiohttp's websocket, for the browser test.

Starts headless Chromium on a free port, opens one page, and collects what the page did:
console errors, uncaught exceptions, every request and every failed load.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

BINARIES = ("chromium", "chromium-browser")


def chromium_binary() -> str | None:
    return next((p for b in BINARIES if (p := shutil.which(b))), None)


@dataclass
class PageLog:
    """What a page did while it was open."""

    console_errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


class Browser:
    """``async with Browser() as b: await b.open(url)`` — one tab, driven over CDP."""

    def __init__(self, binary: str, timeout: float = 20.0) -> None:
        self.binary, self.timeout = binary, timeout
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future] = {}
        self._events: asyncio.Queue = asyncio.Queue()
        self.log = PageLog()

    async def __aenter__(self) -> Browser:
        self._profile = tempfile.TemporaryDirectory()
        self._proc = subprocess.Popen(
            [
                self.binary,
                "--headless",
                "--no-sandbox",  # root in a container
                "--disable-gpu",
                "--no-first-run",
                "--disable-extensions",
                "--disable-background-networking",
                "--remote-debugging-port=0",
                f"--user-data-dir={self._profile.name}",
                "--window-size=1200,900",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        url = await asyncio.wait_for(asyncio.to_thread(self._devtools_url), self.timeout)
        self._http = aiohttp.ClientSession()
        self._ws = await self._http.ws_connect(url, max_msg_size=0)
        self._reader = asyncio.create_task(self._read())
        target = await self.send("Target.createTarget", url="about:blank")
        attached = await self.send(
            "Target.attachToTarget", targetId=target["targetId"], flatten=True
        )
        self._session = attached["sessionId"]
        for domain in ("Page", "Runtime", "Network", "Log"):
            await self.send(f"{domain}.enable", session=True)
        return self

    def _devtools_url(self) -> str:
        assert self._proc.stderr is not None
        for line in self._proc.stderr:
            if match := re.search(r"DevTools listening on (ws://\S+)", line):
                return match.group(1)
        raise RuntimeError("chromium exited before it opened its DevTools port")

    async def __aexit__(self, *exc: object) -> None:
        self._reader.cancel()
        await self._ws.close()
        await self._http.close()
        self._proc.terminate()
        try:
            self._proc.wait(10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
        self._profile.cleanup()

    async def _read(self) -> None:
        async for message in self._ws:
            data = message.json()
            if "id" in data and data["id"] in self._pending:
                self._pending.pop(data["id"]).set_result(data)
            elif "method" in data:
                self._record(data["method"], data.get("params", {}))
                await self._events.put(data)

    def _record(self, method: str, params: dict[str, Any]) -> None:
        if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            self.log.console_errors.append(str(params.get("args")))
        elif method == "Runtime.exceptionThrown":
            self.log.console_errors.append(str(params["exceptionDetails"]))
        elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
            self.log.console_errors.append(params["entry"].get("text", ""))
        elif method == "Network.requestWillBeSent":
            self.log.requests.append(params["request"]["url"])
        elif method == "Network.loadingFailed":
            self.log.failed.append(f"{params.get('errorText')} {params.get('blockedReason', '')}")

    async def send(self, method: str, session: bool = False, **params: Any) -> dict[str, Any]:
        """Run one CDP command (on the page's session where ``session``); its result."""
        call_id = next(self._ids)
        future = asyncio.get_running_loop().create_future()
        self._pending[call_id] = future
        message: dict[str, Any] = {"id": call_id, "method": method, "params": params}
        if session:
            message["sessionId"] = self._session
        await self._ws.send_json(message)
        reply = await asyncio.wait_for(future, self.timeout)
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error']}")
        return reply["result"]

    async def open(self, url: str) -> None:
        """Navigate and wait for the load event."""
        self.log = PageLog()
        while not self._events.empty():
            self._events.get_nowait()
        await self.send("Page.navigate", session=True, url=url)
        while True:
            event = await asyncio.wait_for(self._events.get(), self.timeout)
            if event["method"] == "Page.loadEventFired":
                return

    async def evaluate(self, expression: str) -> Any:
        result = await self.send(
            "Runtime.evaluate", session=True, expression=expression, returnByValue=True
        )
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    async def click(self, x: float, y: float) -> None:
        """A real mouse click at page coordinates (x, y) of the viewport."""
        for kind in ("mousePressed", "mouseReleased"):
            await self.send(
                "Input.dispatchMouseEvent",
                session=True,
                type=kind,
                x=x,
                y=y,
                button="left",
                clickCount=1,
            )

    async def screenshot(self, path: Path) -> Path:
        shot = await self.send("Page.captureScreenshot", session=True, format="png")
        path.write_bytes(base64.b64decode(shot["data"]))
        return path
