"""A DNS server on 127.0.0.1 for tests: answers TXT (and A) queries from a table, at the wire.

Built with dnspython's message API on a plain UDP socket in a thread of its own, so that both
the service's worker threads and a test that blocks can reach it. Names can be made to answer
SERVFAIL (``servfail``) or nothing at all (``silent``: the resolver times out).
"""

from __future__ import annotations

import logging
import socket
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset

log = logging.getLogger(__name__)


@dataclass
class DnsStandIn:
    """TXT records by name (several strings per record allowed), and failure modes."""

    txt: dict[str, list[str]] = field(default_factory=dict)
    a: dict[str, list[str]] = field(default_factory=dict)
    servfail: set[str] = field(default_factory=set)
    silent: set[str] = field(default_factory=set)
    queries: list[tuple[str, str]] = field(default_factory=list)
    port: int = 0

    def answer(self, wire: bytes) -> bytes | None:
        query = dns.message.from_wire(wire)
        response = dns.message.make_response(query)
        question = query.question[0]
        name = question.name.to_text(omit_final_dot=True).lower()
        qtype = dns.rdatatype.to_text(question.rdtype)
        self.queries.append((name, qtype))
        if name in self.silent:
            return None
        if name in self.servfail:
            response.set_rcode(dns.rcode.SERVFAIL)
            return response.to_wire()
        table = {"TXT": self.txt, "A": self.a}.get(qtype, {})
        values = table.get(name)
        known = any(name in t for t in (self.txt, self.a))
        if values:
            texts = [_txt_rdata(v) if qtype == "TXT" else v for v in values]
            response.answer.append(
                dns.rrset.from_text_list(question.name, 60, dns.rdataclass.IN, qtype, texts)
            )
        elif not known:
            response.set_rcode(dns.rcode.NXDOMAIN)
        response.flags |= dns.flags.AA
        return response.to_wire()


def _txt_rdata(value: str) -> str:
    """A TXT value in zone-file form, split in 255-byte strings (DKIM keys are longer)."""
    chunks = [value[i : i + 250] for i in range(0, len(value), 250)] or [""]
    return " ".join('"' + chunk.replace("\\", "\\\\").replace('"', '\\"') + '"' for chunk in chunks)


@contextmanager
def dns_standin(zone: DnsStandIn) -> Iterator[DnsStandIn]:
    """Serve ``zone`` on 127.0.0.1 (a free UDP port, set as ``zone.port``) while inside."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.1)
    zone.port = sock.getsockname()[1]
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                wire, peer = sock.recvfrom(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                reply = zone.answer(wire)
            except Exception:
                log.exception("dns stand-in: could not answer a query")
                continue
            if reply is not None:
                sock.sendto(reply, peer)

    thread = threading.Thread(target=serve, name="dns-standin", daemon=True)
    thread.start()
    try:
        yield zone
    finally:
        stop.set()
        thread.join(2)
        sock.close()


def dead_port() -> int:
    """A UDP port on 127.0.0.1 where nothing answers (bound, never read)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    port: int = sock.getsockname()[1]
    _held.append(sock)
    return port


_held: list[socket.socket] = []


def rsa_key(bits: int = 2048) -> tuple[bytes, str]:
    """A new RSA key: (PKCS#1 PEM private key for dkimpy, base64 public key for the DKIM record)."""
    private = subprocess.run(  # noqa: S603 (fixed arguments)
        ["openssl", "genrsa", "-traditional", str(bits)],  # noqa: S607
        check=True, capture_output=True,
    ).stdout  # fmt: skip
    public = subprocess.run(
        ["openssl", "rsa", "-pubout", "-outform", "PEM"],  # noqa: S607
        input=private, check=True, capture_output=True,
    ).stdout  # fmt: skip
    lines = public.decode().strip().splitlines()
    return private, "".join(line for line in lines if not line.startswith("-----"))
