"""Which addresses an outgoing request may reach (SECURITY.md, SSRF): never this machine, its
networks, the cloud's metadata service, or an internal address in another dress.

The check is on addresses, after resolution, never on the URL's text: `2130706433`,
`0177.0.0.1`, `0x7f.1` and `127.1` all resolve to 127.0.0.1 and are refused as that. An
IPv4-mapped IPv6 address (`::ffff:10.0.0.1`) is judged as the IPv4 address it carries, and the
NAT64 and 6to4 prefixes, whose addresses wrap IPv4 ones (`ipaddress.is_global` lets some of
them through), are denied whole, as are Teredo's (2001::/32) for the same reason.
"""

from __future__ import annotations

from collections.abc import Iterable
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network
from typing import Final

IPAddress = IPv4Address | IPv6Address
IPNetwork = IPv4Network | IPv6Network

DENIED: Final[tuple[IPNetwork, ...]] = tuple(
    ip_network(net)
    for net in (
        # IPv4 (SECURITY.md's list)
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",  # link-local, and the metadata service (169.254.169.254)
        "172.16.0.0/12",
        "192.0.0.0/24",
        "192.0.2.0/24",
        "192.168.0.0/16",
        "198.18.0.0/15",
        "198.51.100.0/24",
        "203.0.113.0/24",
        "224.0.0.0/4",
        "240.0.0.0/4",  # and 255.255.255.255
        # IPv6
        "::/128",
        "::1/128",
        "::/96",  # IPv4-compatible (deprecated) addresses wrap IPv4 ones
        "fc00::/7",  # unique local, and AWS's metadata fd00:ec2::254
        "fe80::/10",
        "fec0::/10",  # site-local (deprecated)
        "ff00::/8",
        "2001:db8::/32",
        "2001::/32",  # Teredo wraps IPv4 addresses
        "64:ff9b::/96",  # NAT64
        "64:ff9b:1::/48",  # local-use NAT64
        "2002::/16",  # 6to4
        "100::/64",  # discard-only
    )
)


def parse_networks(values: Iterable[str]) -> tuple[IPNetwork, ...]:
    return tuple(ip_network(value, strict=False) for value in values)


def unwrapped(address: IPAddress) -> IPAddress:
    """An IPv4-mapped IPv6 address (`::ffff:a.b.c.d`) as the IPv4 address it is."""
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def within(address: IPAddress, networks: Iterable[IPNetwork]) -> bool:
    found = unwrapped(address)
    return any(found.version == net.version and found in net for net in networks)


def refusal(address: IPAddress | str, allowed: Iterable[IPNetwork] = ()) -> str | None:
    """Why `address` may not be reached (None if it may). `allowed`: networks a test or a
    development setup lets through (production refuses to start with any)."""
    found = unwrapped(ip_address(address) if isinstance(address, str) else address)
    if within(found, allowed):
        return None
    for net in DENIED:
        if found.version == net.version and found in net:
            return f"{found} is in {net}"
    if not found.is_global:
        return f"{found} is not a global address"
    return None
