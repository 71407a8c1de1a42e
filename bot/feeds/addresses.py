"""Whether a web address is on the public internet: what a public feed links to (transcripts,
chapters) is fetched only from there, so a feed cannot make the bot read its own network (a
cloud's metadata service, a router's admin page) and serve it to members as a transcript."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit


async def private_address(url: str) -> str | None:
    """An address of `url`'s host that is not on the public internet (loopback, private,
    link-local, shared or reserved), or None when every one is public. A host that does not
    resolve gives None: connecting to it fails on its own. (Checked before connecting, so a
    DNS answer that changes in between is not caught.)"""
    parts = urlsplit(url)
    host = parts.hostname
    if not host:
        return None
    try:
        port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, ValueError):
        return None
    for *_, sockaddr in infos:
        address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if not address.is_global:
            return str(address)
    return None


async def is_public(url: str) -> bool:
    """An http(s) URL whose host resolves to public addresses only (a local file is not)."""
    if urlsplit(url).scheme.lower() not in ("http", "https"):
        return False
    return await private_address(url) is None
