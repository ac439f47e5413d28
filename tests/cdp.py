"""Headless Chromium driven over the DevTools protocol, for tests that look at rendered mail.

One browser per `Browser` (fresh profile in a temporary folder, no network: every host name
resolves to nothing, so a page can only load file:// resources, or with `loopback` a test's
own server on 127.0.0.1), one page, and the few commands the tests need. `decode_png` reads
the screenshots without an imaging library.
"""

from __future__ import annotations

import base64
import contextlib
import json
import shutil
import struct
import subprocess
import tempfile
import time
import zlib
from pathlib import Path
from typing import Any

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--hide-scrollbars",
    "--mute-audio",
    "--remote-debugging-address=127.0.0.1",
    "--remote-debugging-port=0",
)


RESOLVER_RULES = "--host-resolver-rules=MAP * ~NOTFOUND"


def find_chromium() -> str | None:
    return next((p for p in map(shutil.which, CHROMIUM_NAMES) if p), None)


class Browser:
    """A headless Chromium with one page, closed (process and profile) on exit."""

    def __init__(self, executable: str, timeout: float = 20.0, loopback: bool = False) -> None:
        """`loopback`: 127.0.0.1 is reachable too (a test's own server); nothing else is."""
        import websocket

        self._profile = Path(tempfile.mkdtemp(prefix="seriespub-chromium-"))
        self._process = subprocess.Popen(
            [
                executable,
                *FLAGS,
                *((f"{RESOLVER_RULES}, EXCLUDE 127.0.0.1",) if loopback else (RESOLVER_RULES,)),
                f"--user-data-dir={self._profile}",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self._ids = 0
        try:
            url = self._devtools_url(timeout)
            self._socket = websocket.create_connection(url, timeout=timeout, suppress_origin=True)
            target = self.send("Target.createTarget", url="about:blank")["targetId"]
            self._session = self.send("Target.attachToTarget", targetId=target, flatten=True)[
                "sessionId"
            ]
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _devtools_url(self, timeout: float) -> str:
        """Chromium writes its chosen port and browser path into the profile when ready."""
        port_file = self._profile / "DevToolsActivePort"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"chromium exited with {self._process.returncode}")
            lines = port_file.read_text().split() if port_file.exists() else []
            if len(lines) == 2:
                return f"ws://127.0.0.1:{lines[0]}{lines[1]}"
            time.sleep(0.05)
        raise TimeoutError("chromium did not open its DevTools port")

    def send(self, method: str, session: bool = False, **params: Any) -> Any:
        """One command; events that arrive meanwhile are dropped."""
        self._ids += 1
        message: dict[str, Any] = {"id": self._ids, "method": method, "params": params}
        if session:
            message["sessionId"] = self._session
        self._socket.send(json.dumps(message))
        while True:
            answer = json.loads(self._socket.recv())
            if answer.get("id") == self._ids:
                if "error" in answer:
                    raise RuntimeError(f"{method}: {answer['error']}")
                return answer.get("result", {})

    def page(self, method: str, **params: Any) -> Any:
        return self.send(method, session=True, **params)

    def evaluate(self, expression: str) -> Any:
        result = self.page(
            "Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True
        )
        if "exceptionDetails" in result:
            raise RuntimeError(f"page script failed: {result['exceptionDetails']}")
        return result["result"].get("value")

    def viewport(self, width: int, height: int = 900) -> None:
        """The page's size in CSS pixels (a desktop, not a phone's touch emulation)."""
        self.page(
            "Emulation.setDeviceMetricsOverride",
            width=width,
            height=height,
            deviceScaleFactor=1,
            mobile=False,
        )

    def colour_scheme(self, scheme: str) -> None:
        """What `prefers-color-scheme` answers: "light" or "dark"."""
        self.page(
            "Emulation.setEmulatedMedia",
            features=[{"name": "prefers-color-scheme", "value": scheme}],
        )

    def open(self, path: Path) -> None:
        """Load a local file and wait until it (and its local images) finished loading."""
        self.page("Page.navigate", url=path.resolve().as_uri())
        deadline = time.monotonic() + 10
        while self.evaluate("document.readyState") != "complete":
            if time.monotonic() > deadline:
                raise TimeoutError(f"{path} did not finish loading")
            time.sleep(0.02)

    def screenshot(self, clip: dict[str, float] | None = None, scale: float = 1.0) -> bytes:
        params: dict[str, Any] = {"format": "png"}
        if clip is not None:
            params["clip"] = {**clip, "scale": scale}
        else:
            params["captureBeyondViewport"] = True
        return base64.b64decode(self.page("Page.captureScreenshot", **params)["data"])

    def close(self) -> None:
        sock = getattr(self, "_socket", None)
        if sock is not None:
            # the browser may already be gone: the process is ended below anyway
            with contextlib.suppress(Exception):
                self.send("Browser.close")
            sock.close()
        try:
            self._process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        shutil.rmtree(self._profile, ignore_errors=True)


def decode_png(data: bytes) -> list[list[tuple[int, int, int]]]:
    """The RGB pixels of an 8-bit RGB or RGBA, non-interlaced PNG (what Chromium writes)."""
    width, height, depth, colour, interlace = _png_header(data)
    if depth != 8 or colour not in (2, 6) or interlace:
        raise ValueError(f"unsupported PNG: depth {depth}, colour type {colour}")
    raw = zlib.decompress(b"".join(_png_chunks(data, b"IDAT")))
    step = 3 if colour == 2 else 4
    stride = width * step
    rows: list[list[tuple[int, int, int]]] = []
    previous = bytearray(stride)
    for y in range(height):
        kind = raw[y * (stride + 1)]
        line = _unfilter(
            kind, bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)]), previous, step
        )
        rows.append([(line[i], line[i + 1], line[i + 2]) for i in range(0, stride, step)])
        previous = line
    return rows


def _png_header(data: bytes) -> tuple[int, int, int, int, int]:
    header = next(iter(_png_chunks(data, b"IHDR")))
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", header)
    return width, height, depth, colour, interlace


def _png_chunks(data: bytes, wanted: bytes) -> list[bytes]:
    found, at = [], 8
    while at < len(data):
        (length,), kind = struct.unpack(">I", data[at : at + 4]), data[at + 4 : at + 8]
        if kind == wanted:
            found.append(data[at + 8 : at + 8 + length])
        at += 12 + length
    return found


def _unfilter(kind: int, line: bytearray, prev: bytearray, bpp: int) -> bytearray:
    for i in range(len(line)):
        left = line[i - bpp] if i >= bpp else 0
        up, corner = prev[i], prev[i - bpp] if i >= bpp else 0
        if kind == 1:
            line[i] = (line[i] + left) & 0xFF
        elif kind == 2:
            line[i] = (line[i] + up) & 0xFF
        elif kind == 3:
            line[i] = (line[i] + (left + up) // 2) & 0xFF
        elif kind == 4:
            p = left + up - corner
            pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
            pred = left if pa <= pb and pa <= pc else up if pb <= pc else corner
            line[i] = (line[i] + pred) & 0xFF
    return line
