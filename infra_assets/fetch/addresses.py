"""Which network addresses a fetch may connect to.

Rule: a connection to a private, loopback, link-local or otherwise non-public address is refused,
unless the operator wrote that address: a host in the source's own URLs or `allow_hosts` that is
an IP literal in such a range, or `localhost`. Every other host name must resolve to public
addresses only, so neither a URL found in a sitemap, feed, JSON document or redirect, nor a
public name whose DNS now points inside the network (DNS rebinding, cloud metadata at
169.254.169.254), can make the crawler reach an internal service.

Decision: the check runs inside the connection. `GuardedHTTPConnection._new_conn` resolves the
name once, checks every address it got, and connects to those same checked addresses (TLS still
verifies and sends SNI for the name). A separate "resolve, check, then let the library connect"
step would resolve twice, and an attacker's DNS can answer the second lookup differently. Any
private address among the answers refuses the whole name: a mixed answer is itself a rebinding
sign. A name the operator wants to reach on a private network must therefore be written as its
address (or `localhost`); a name is never trusted to stay where it points.

The policy travels with the fetch in a thread-local (`permit`), because urllib3 creates
connections deep inside `session.get`. A kept-alive connection was checked when it was opened; a
client lives for one source's run, so the policy does not change under it.

Through an HTTP(S) proxy (HTTP_PROXY and friends) the proxy resolves and connects, and its own
address is the operator's choice, so it is not checked. The target is then checked by
`check_name` before the request: resolve, then check. That is the best that can be done when
someone else connects, and the one place where a second lookup (the proxy's) could differ.
"""

from __future__ import annotations

import ipaddress
import socket
import sys
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from urllib.parse import urlsplit

from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError
from urllib3.util.connection import _set_socket_options, allowed_gai_family
from urllib3.util.timeout import _DEFAULT_TIMEOUT

# One answer of socket.getaddrinfo: (family, type, proto, canonname, sockaddr); sockaddr is
# (host, port) for IPv4, (host, port, flowinfo, scope_id) for IPv6.
AddrInfo = tuple[int, int, int, str, tuple[str, int] | tuple[str, int, int, int] | tuple[int, bytes]]
# socket.getaddrinfo's signature as used here: (host, port, family, type) → answers
Resolver = Callable[[str, int, int, int], Sequence[AddrInfo]]
DEFAULT_PORTS = (80, 443)

_policy = threading.local()


class BlockedAddress(Exception):
    """A host resolved to an address the source may not reach.

    Deliberately not an OSError: urllib3 retries OSErrors, and a refusal is not worth retrying.
    """


def is_public(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def _kind(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    for attr in ("loopback", "link_local", "private", "multicast", "unspecified", "reserved"):
        if getattr(ip, f"is_{attr}"):
            return attr.replace("_", "-")
    return "non-public"


def _literal_private(hostname: str) -> bool:
    """An address the operator wrote that is not public: an IP literal, or a localhost name."""
    if hostname == "localhost" or hostname.endswith(".localhost"):
        return True
    try:
        return not is_public(ipaddress.ip_address(hostname))
    except ValueError:
        return False


def private_targets(hosts: Iterable[str]) -> frozenset[tuple[str, int]]:
    """(host, port) pairs among `hosts` (host[:port] strings) written as private addresses."""
    out: set[tuple[str, int]] = set()
    for host in hosts:
        try:
            parts = urlsplit("//" + host)
            name, port = parts.hostname, parts.port
        except ValueError:
            continue
        if name and _literal_private(name):
            out.update((name, p) for p in ((port,) if port else DEFAULT_PORTS))
    return frozenset(out)


@contextmanager
def permit(hosts: Iterable[str]) -> Iterator[None]:
    """Within this block, this thread may connect to the private addresses written in `hosts`."""
    previous = getattr(_policy, "private", None)
    _policy.private = private_targets(hosts)
    try:
        yield
    finally:
        _policy.private = previous


def _refusal(host: str, port: int, answers: Sequence[AddrInfo]) -> BlockedAddress | None:
    permitted = getattr(_policy, "private", None) or frozenset()
    for *_, sockaddr in answers:
        ip = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if not is_public(ip) and (host.lower(), port) not in permitted:
            shown = host if host == str(ip) else f"{host} resolves to {ip}, which"
            return BlockedAddress(
                f"{shown} is a {_kind(ip)} address: refused (a source reaches private "
                "addresses only when its own url or allow_hosts names them)"
            )
    return None


def check_name(url: str, resolver: Resolver | None = None) -> None:
    """Raise `BlockedAddress` if the URL's host resolves to an address this fetch may not reach
    (for requests a proxy makes for us; a failed lookup is left for the proxy to report)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        answers = (resolver or socket.getaddrinfo)(host, port, allowed_gai_family(), socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        return
    refusal = _refusal(host, port, answers)
    if refusal is not None:
        raise refusal


class _Guarded(HTTPConnection):
    """`_new_conn` that resolves once, checks every address, and connects to a checked one.

    Mixed in before HTTPConnection or HTTPSConnection (both MROs put it right before the
    urllib3 class, so `super()._new_conn()` is urllib3's)."""

    resolver: Resolver = staticmethod(socket.getaddrinfo)

    def _new_conn(self) -> socket.socket:  # overrides urllib3's, keeping its error types
        if getattr(self, "proxy", None) is not None:
            return super()._new_conn()
        host, port = self._dns_host.strip("[]"), self.port
        try:
            answers = self.resolver(host, port, allowed_gai_family(), socket.SOCK_STREAM)
        except socket.gaierror as exc:
            raise NameResolutionError(self.host, self, exc) from exc
        if not answers:
            raise NewConnectionError(self, f"Failed to establish a new connection: no address for {host}")
        refusal = _refusal(host, port, answers)
        if refusal is not None:
            raise refusal
        error: OSError | None = None
        for family, socktype, proto, _, sockaddr in answers:
            sock = socket.socket(family, socktype, proto)
            try:
                _set_socket_options(sock, self.socket_options)
                # urllib3 types `timeout` float | None, yet its pool's urlopen assigns the sentinel too.
                if self.timeout is not _DEFAULT_TIMEOUT:  # type: ignore[comparison-overlap]
                    sock.settimeout(self.timeout)
                if self.source_address:
                    sock.bind(self.source_address)
                sock.connect(sockaddr)
            except TimeoutError as exc:
                sock.close()
                raise ConnectTimeoutError(
                    self, f"Connection to {self.host} timed out. (connect timeout={self.timeout})"
                ) from exc
            except OSError as exc:
                sock.close()
                error = exc
                continue
            sys.audit("http.client.connect", self, self.host, self.port)
            return sock
        raise NewConnectionError(self, f"Failed to establish a new connection: {error}")


class GuardedHTTPConnection(_Guarded):
    pass


class GuardedHTTPSConnection(_Guarded, HTTPSConnection):
    pass


def guarded_pools(resolver: Resolver | None = None) -> dict[str, type]:
    """Connection pool classes for urllib3's PoolManager whose connections are checked.

    `resolver` replaces `socket.getaddrinfo`; tests use it to simulate a public name answering
    with a private address, which no real DNS here can do.
    """
    attrs = {"resolver": staticmethod(resolver)} if resolver is not None else {}
    http_conn = type("CheckedHTTPConnection", (GuardedHTTPConnection,), attrs)
    https_conn = type("CheckedHTTPSConnection", (GuardedHTTPSConnection,), attrs)
    return {
        "http": type("CheckedHTTPConnectionPool", (HTTPConnectionPool,), {"ConnectionCls": http_conn}),
        "https": type("CheckedHTTPSConnectionPool", (HTTPSConnectionPool,), {"ConnectionCls": https_conn}),
    }
