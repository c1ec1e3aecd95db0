"""Where a webhook may be delivered: never inside. A URL must be https (or http to a host listed in
WEBHOOK_ALLOWED_HOSTS), carry no user:password, and every address its host resolves to must be public
(or listed). The check runs at registration and again at each delivery, and a delivery connects to
the very addresses it checked (no second DNS lookup an attacker could answer differently), while
the Host header and the TLS certificate are still those of the name in the URL."""
import functools
import http.client
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

import eventlet

Address = ipaddress.IPv4Address | ipaddress.IPv6Address

# Cloud instance metadata and platform services. Most are link-local or unique-local already; some
# (Oracle's, Alibaba's, Azure's wire server) are not, so they are named here.
METADATA_ADDRESSES = frozenset(ipaddress.ip_address(a) for a in (
    "169.254.169.254", "169.254.170.2", "169.254.169.123", "fd00:ec2::254", "fd00:ec2::23",
    "100.100.100.200", "192.0.0.192", "168.63.129.16"))
METADATA_NAMES = frozenset(("metadata", "metadata.google.internal", "metadata.goog", "instance-data",
                            "instance-data.ec2.internal", "metadata.azure.internal"))
# Names that mean "this machine" or "this private network" whatever DNS says (RFC 6761, ICANN .internal).
INTERNAL_SUFFIXES = (".localhost", ".internal")
NAT64 = ipaddress.ip_network("64:ff9b::/96")
# Not public, whatever this Python's ipaddress tables say (they changed between 3.11 releases).
NOT_PUBLIC = tuple(ipaddress.ip_network(n) for n in ("0.0.0.0/8", "100.64.0.0/10", "192.0.0.0/24", "198.18.0.0/15",
                                                     "240.0.0.0/4", "fec0::/10", "2001::/23"))

# Checked in this order, so the reason given is the most specific one.
KINDS = (("loopback", "is_loopback"), ("link-local", "is_link_local"), ("unspecified", "is_unspecified"),
         ("multicast", "is_multicast"), ("private or unique-local", "is_private"), ("reserved", "is_reserved"))


class Refused(Exception):
    """A URL a webhook may not use; the message says why and is safe to show to an admin."""


class Unresolved(Exception):
    """The host name does not resolve (now): at delivery, worth another try later."""


@dataclass(frozen=True)
class AllowList:
    """WEBHOOK_ALLOWED_HOSTS: host names and IP literals that may be reached over http, and inside."""

    names: frozenset[str] = frozenset()
    addresses: frozenset[Address] = frozenset()

    @classmethod
    def parse(cls, setting: str) -> "AllowList":
        names, addresses = set(), set()
        for entry in (e.strip().strip("[]") for e in setting.split(",")):
            if address := _address(entry):
                addresses.add(address)
            elif entry:
                names.add(_normal_name(entry))
        return cls(frozenset(names), frozenset(addresses))

    def lists_host(self, host: str) -> bool:
        address = _address(host)
        return address in self.addresses if address else _normal_name(host) in self.names

    def lists_address(self, address: Address) -> bool:
        return address in self.addresses or (_unwrapped(address) or address) in self.addresses


def address_refusal(address: Address | str, allowed: AllowList = AllowList()) -> str | None:
    """Why a webhook may not reach this address ("a loopback address", ...), or None if it may."""
    address = ipaddress.ip_address(address) if isinstance(address, str) else address
    if allowed.lists_address(address):
        return None
    if embedded := _unwrapped(address):
        return address_refusal(embedded, allowed)
    if address in METADATA_ADDRESSES:
        return "a cloud metadata address"
    for kind, test in KINDS:
        if getattr(address, test, False):
            return f"a {kind} address"
    if not address.is_global or any(address in network for network in NOT_PUBLIC):
        return "a non-public address"
    return None


def name_refusal(host: str) -> str | None:
    """Why a host name is refused before any lookup, or None."""
    name = _normal_name(host)
    if name in METADATA_NAMES:
        return "a cloud metadata name"
    if name == "localhost" or name.endswith(INTERNAL_SUFFIXES):
        return "an internal name"
    return None


@dataclass(frozen=True)
class Target:
    """A checked URL: connect only to `addresses`, speak to `host`."""

    scheme: str
    host: str
    port: int
    path: str
    addresses: tuple[str, ...]


def checked_target(url: str, allowed: AllowList, resolve=None, resolve_timeout: float = 3.0) -> Target:
    """The URL split and its host resolved (by `resolve`; by default a lookup given `resolve_timeout`
    seconds: WEBHOOK_RESOLVE_TIMEOUT_SECONDS), every address checked. Raises Refused, or Unresolved."""
    parts = _split(url)
    host, port = parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)
    listed = allowed.lists_host(host)
    if parts.scheme == "http" and not listed:
        raise Refused("Use https: http is allowed only to a host listed in WEBHOOK_ALLOWED_HOSTS.")
    if not listed and (why := name_refusal(host)):
        raise Refused(f"The host is {why}.")
    resolve = resolve or functools.partial(_resolve, timeout=resolve_timeout)
    addresses = [literal] if (literal := _address(host)) else resolve(host, port)
    if not addresses:
        raise Unresolved("The host name does not resolve.")
    for address in addresses:
        if not listed and (why := address_refusal(address, allowed)):
            raise Refused(f"The host is {why}." if literal
                          else f"The host name resolves to {why} ({address}).")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Target(parts.scheme, host, port, path, tuple(str(a) for a in addresses))


def _split(url: str):
    try:
        parts = urlsplit(url)
        parts.port  # a port that is not a number raises here
    except ValueError:
        raise Refused("Not a valid URL.") from None
    if parts.scheme not in ("http", "https"):
        raise Refused("Use an https URL.")
    if "@" in parts.netloc:
        raise Refused("A URL with a user name or password is not allowed; authenticate with the secret.")
    if not parts.hostname:
        raise Refused("The URL has no host.")
    return parts


def _resolve(host: str, port: int, timeout: float) -> list[Address]:
    try:
        with eventlet.Timeout(timeout, Unresolved("The host name did not resolve in time.")):
            found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise Unresolved("The host name does not resolve.") from None
    return list(dict.fromkeys(ipaddress.ip_address(info[4][0]) for info in found))


def _address(text: str) -> Address | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _normal_name(name: str) -> str:
    return name.strip().rstrip(".").lower()


def _unwrapped(address: Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries (mapped, 6to4, NAT64), which is where it really goes."""
    if address.version != 6:
        return None
    if address.ipv4_mapped or address.sixtofour:
        return address.ipv4_mapped or address.sixtofour
    if address in NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


# --- connecting to the checked addresses only ----------------------------------------------

class _Pinned:
    """Connects to the checked addresses in turn; http.client still sends Host: <the URL's host>."""

    addresses: tuple[str, ...] = ()
    port: int  # http.client's
    timeout: float | None

    def _pinned_socket(self) -> socket.socket:
        failure: OSError = OSError("no address to connect to")
        for address in self.addresses:
            try:
                return socket.create_connection((address, self.port), self.timeout)
            except OSError as error:
                failure = error
        raise failure


class PinnedHTTPConnection(_Pinned, http.client.HTTPConnection):
    def connect(self) -> None:
        self.sock = self._pinned_socket()


class PinnedHTTPSConnection(_Pinned, http.client.HTTPSConnection):
    def connect(self) -> None:
        # The certificate is verified for the URL's host name, not for the address connected to.
        context = self._context  # type: ignore[attr-defined]  # http.client's own, not in its stubs
        self.sock = context.wrap_socket(self._pinned_socket(), server_hostname=self.host)


def connection_to(target: Target, timeout: float, context=None) -> http.client.HTTPConnection:
    """A connection to the target's checked addresses; `context`: the TLS context (default: the system's CAs)."""
    connection: PinnedHTTPConnection | PinnedHTTPSConnection
    if target.scheme == "https":
        connection = PinnedHTTPSConnection(target.host, target.port, timeout=timeout, context=context)
    else:
        connection = PinnedHTTPConnection(target.host, target.port, timeout=timeout)
    connection.addresses = target.addresses
    return connection
