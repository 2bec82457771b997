"""Reading a response body within a byte cap and a deadline, and naming what went wrong."""

from __future__ import annotations

import re
import threading
import time

import requests
import urllib3

READ_CHUNK = 64 * 1024


class TooLarge(Exception):
    """The body passed the byte cap."""


class DeadlinePassed(Exception):
    """The body did not arrive before the deadline."""


def read_capped(raw: urllib3.HTTPResponse, deadline: float, cap: int, truncate: bool = False) -> bytes:
    """Read a streamed body until EOF, the byte cap or the deadline, whichever comes first."""
    # A server that trickles bytes never trips a per-read timeout, so a timer cuts the socket at
    # the deadline; read1 returns whatever one read gives, so the loop checks the clock often.
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise DeadlinePassed
    timer = threading.Timer(remaining, _shutdown_quietly, args=(raw,))
    timer.daemon = True
    timer.start()
    chunks: list[bytes] = []
    size = 0
    try:
        while True:
            try:
                data = raw.read1(READ_CHUNK, decode_content=True)
            except (urllib3.exceptions.HTTPError, OSError) as exc:
                if time.monotonic() >= deadline:
                    raise DeadlinePassed from exc
                raise requests.ConnectionError(exc) from exc
            if time.monotonic() >= deadline:
                raise DeadlinePassed
            if not data:
                return b"".join(chunks)
            size += len(data)
            if size > cap:
                if truncate:
                    chunks.append(data[: cap - (size - len(data))])
                    return b"".join(chunks)
                raise TooLarge
            chunks.append(data)
    finally:
        timer.cancel()


def discard(raw: urllib3.HTTPResponse, deadline: float) -> bool:
    """Read and drop a small non-2xx body so its connection can be reused; False if that failed."""
    try:
        read_capped(raw, min(deadline, time.monotonic() + 5.0), 64 * 1024)
    except (TooLarge, DeadlinePassed, requests.RequestException):
        return False
    return True


def _shutdown_quietly(raw: urllib3.HTTPResponse) -> None:
    try:
        raw.shutdown()
    except (ValueError, RuntimeError, OSError):
        pass  # already finished or released: nothing left to interrupt


def describe_error(exc: BaseException, timeout_s: float, max_redirects: int = 5) -> str:
    """A one-line reason for a failed request, without the libraries' nested reprs."""
    cause = exc.args[0] if exc.args else None
    if isinstance(cause, urllib3.exceptions.MaxRetryError) and cause.reason is not None:
        cause = cause.reason  # what went wrong on the last attempt
    if isinstance(cause, urllib3.exceptions.NameResolutionError):  # a NewConnectionError too
        return f"DNS lookup failed: {_innermost(cause)}"
    if isinstance(cause, urllib3.exceptions.NewConnectionError):  # a subclass of ConnectTimeoutError
        return "connection failed: " + _innermost(cause)
    if isinstance(exc, requests.ConnectTimeout) or isinstance(cause, urllib3.exceptions.ConnectTimeoutError):
        return f"could not connect within {timeout_s:g} s"
    if isinstance(exc, requests.ReadTimeout) or isinstance(cause, urllib3.exceptions.ReadTimeoutError):
        return f"no response within {timeout_s:g} s"
    if isinstance(exc, requests.exceptions.SSLError):
        return "TLS error: " + _innermost(exc)
    if isinstance(exc, requests.TooManyRedirects):
        return f"more than {max_redirects} redirects"
    if isinstance(exc, requests.ConnectionError):
        return "connection failed: " + _innermost(exc)
    return f"{type(exc).__name__}: {_innermost(exc)}"


def _innermost(exc: BaseException) -> str:
    text = str(exc)
    match = re.search(r"\[Errno -?\d+\] ([^'\")]+)", text)
    if match:
        return match.group(1).strip()
    if "Connection aborted" in text or "RemoteDisconnected" in text:
        return "the server closed the connection"
    return text.splitlines()[0][:200] if text else type(exc).__name__
