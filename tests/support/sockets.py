"""What this machine listens on, from the kernel's socket tables (not from a server's word)."""

from __future__ import annotations

import ipaddress
import os


def listening(port: int) -> set[str]:
    """Addresses with a listening TCP socket on ``port``, IPv4 and IPv6 (``"::"`` would be
    all interfaces of both), from /proc/net/tcp and /proc/net/tcp6."""
    found = set()
    for table_path in ("/proc/net/tcp", "/proc/net/tcp6"):
        if not os.path.exists(table_path):
            continue
        with open(table_path) as table:
            next(table)
            for line in table:
                fields = line.split()
                address, port_hex = fields[1].split(":")
                if int(port_hex, 16) != port or fields[3] != "0A":  # 0A: LISTEN
                    continue
                raw = bytes.fromhex(address)
                # The kernel prints each 32-bit word in host (little-endian) order.
                words = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
                found.add(str(ipaddress.ip_address(words)))
    return found
