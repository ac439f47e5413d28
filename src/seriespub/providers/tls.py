"""The TLS context an HTTPS adapter's client verifies with, loaded ahead in the background.

Loading the CA bundle (about 150 certificates) takes 25–50 ms, and OpenSSL does it with the
GIL released. A send knows from the config that it will need a client long before it builds
one, so it calls `load_ahead()` first and the load overlaps reading the drafts, rendering and
planning; `context()` collects it when the client is built (or loads it then, if nobody asked
ahead).

Guarantees:
- the context is httpx's own default, `httpx.create_ssl_context()` (certifi's bundle, or
  `SSL_CERT_FILE` / `SSL_CERT_DIR` when set): verification is what it was without this module;
- a bundle that cannot be read is a ConfigError naming where it came from (`SSL_CERT_FILE`,
  `SSL_CERT_DIR` or certifi), not a bare "No such file or directory";
- it is loaded at most once per process and never shared half-made: `context()` waits for the
  load and raises what the load raised, in the caller's thread;
- a command that ends before it needs a client waits for the load at exit (25-50 ms; at most
  EXIT_WAIT seconds): a daemon thread still importing httpx or inside OpenSSL while the
  interpreter shuts down can crash the process (CI once saw a SIGSEGV at such an exit).
"""

from __future__ import annotations

import atexit
import os
import threading
from typing import TYPE_CHECKING

from seriespub.errors import ConfigError

if TYPE_CHECKING:
    import ssl

_lock = threading.Lock()
_done = threading.Event()
_started = False
_result: ssl.SSLContext | None = None
_error: BaseException | None = None
EXIT_WAIT = 30.0  # seconds; a CA bundle that never arrives (a stuck network file) is left


def load_ahead() -> None:
    """Start loading the context in a background thread (once per process)."""
    global _started
    with _lock:
        if _started:
            return
        _started = True
    # A daemon, so that a stuck load cannot hold the process past EXIT_WAIT.
    threading.Thread(target=_load, name="tls-context", daemon=True).start()
    atexit.register(_done.wait, EXIT_WAIT)


def context() -> ssl.SSLContext:
    """The context: the one loading ahead (waited for), else loaded now."""
    global _started
    with _lock:
        ahead, _started = _started, True
    if not ahead:
        _load()
    _done.wait()
    if _error is not None:
        raise _error
    assert _result is not None
    return _result


def _load() -> None:
    global _result, _error
    try:
        _result = _create()
    except BaseException as exc:  # handed to the thread that needs the context
        _error = exc
    finally:
        _done.set()


def _create() -> ssl.SSLContext:
    from seriespub.providers.spec import without_httpx_cli

    without_httpx_cli()
    import httpx

    try:
        return httpx.create_ssl_context()
    except OSError as exc:  # ssl.SSLError too: a file that is not PEM
        # httpx reads the first of these that is set; with neither, certifi's own bundle.
        used = next((n for n in ("SSL_CERT_FILE", "SSL_CERT_DIR") if os.environ.get(n)), None)
        source = f"{used}={os.environ[used]}" if used else "certifi's CA bundle"
        reason = exc.strerror or str(exc)
        raise ConfigError(
            f"cannot load the TLS certificates to verify the provider ({source}): {reason}",
            hint=f"point {used} at a readable PEM bundle, or unset it" if used else None,
        ) from None
