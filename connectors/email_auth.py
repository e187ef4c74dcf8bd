"""Who really sent an inbound mail: DKIM, SPF and DMARC alignment, or a trusted upstream's word.

Anyone can write any address into a mail's From. A mail counts as *verified* when its From
domain vouches for it the way DMARC (RFC 7489) defines: a valid DKIM signature (dkimpy) whose
``d=`` domain is aligned with the From domain, or an SPF pass (pyspf) for a MAIL FROM domain
aligned with it. Aligned means the same domain (``adkim``/``aspf`` = ``s`` in the domain's
DMARC record) or, by default, the same organizational domain (the public suffix list).

Three modes (``channels.email.sender_auth``):

- ``verify``: msgcenter checks DKIM and SPF itself. Every DNS query goes through one
  dnspython resolver (``dns_servers``, else the system's) with a per-query lifetime, in a
  small thread pool of its own, and the whole check has a deadline: a DNS failure or a
  slow server gives ``temperror``, which counts as unverified, never as a crash or a hang.
- ``trust_upstream``: an MTA in front of msgcenter (Postfix with OpenDKIM/OpenDMARC, rspamd,
  a mail provider) checked the mail and wrote an ``Authentication-Results`` header with its
  ``authserv_id``. Only the topmost such header counts (the upstream must remove forged ones
  carrying its id, as RFC 8601 section 5 asks), and only for mail whose SMTP client is one
  of ``upstream_networks``: anyone else could write that header too.
- ``off``: nothing is checked and every sender counts as verified (the demo, whose
  simulated mail is unsigned). Never in production.

:class:`SenderAuth` is the outcome; ``as_dict()`` is what is stored with the message.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import threading
import warnings
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from email.message import Message
from email.parser import BytesHeaderParser
from email.policy import compat32
from functools import cache, partial
from typing import Any, Literal

import dkim
import dns.exception
import dns.nameserver
import dns.rdatatype
import dns.resolver
from publicsuffixlist import PublicSuffixList

with warnings.catch_warnings():
    # pyspf 2.0.14's source has escape sequences Python warns about when it compiles the module.
    warnings.simplefilter("ignore", DeprecationWarning)
    warnings.simplefilter("ignore", SyntaxWarning)
    import spf

log = logging.getLogger(__name__)

Mode = Literal["verify", "trust_upstream", "off"]
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
MAX_SIGNATURES = 5  # DKIM signatures checked per mail (each costs a DNS query)
# Results: "pass" (verified), "fail" (not verified), "temperror" (could not tell now: a DNS
# failure or timeout; not verified either), "off" (not checked: sender_auth = "off").
PASS, FAIL, TEMPERROR, OFF = "pass", "fail", "temperror", "off"


@dataclass(frozen=True, slots=True)
class AuthConfig:
    mode: Mode = "off"
    dns_servers: tuple[str, ...] = ()  # "192.0.2.53", "192.0.2.53:5353", "[2001:db8::53]:53"
    dns_timeout: float = 3.0  # seconds one DNS query may take
    timeout: float = 10.0  # seconds the whole check may take
    authserv_id: str = ""  # trust_upstream: the upstream's id in Authentication-Results
    upstream_networks: tuple[Network, ...] = (
        ipaddress.ip_network("127.0.0.1/32"),
        ipaddress.ip_network("::1/128"),
    )
    workers: int = 4  # threads for the checks (each may wait on DNS)


@dataclass(frozen=True, slots=True)
class SenderAuth:
    """How an inbound mail's sender was authenticated."""

    result: str  # pass | fail | temperror | off
    domain: str = ""  # the From domain
    dkim: str = "none"  # the best DKIM result: pass (aligned or not), fail, temperror, none...
    dkim_domain: str = ""  # the d= of that signature
    spf: str = "none"  # pyspf's result: pass, fail, softfail, neutral, none, temperror...
    spf_domain: str = ""  # the MAIL FROM (or HELO) domain SPF was checked for
    dmarc_policy: str = ""  # p= of the From domain's DMARC record, "" without one
    method: str = "verify"  # verify | upstream | off
    reason: str = ""

    @property
    def verified(self) -> bool:
        """True when the sender is who the From header says (or checks are off)."""
        return self.result in (PASS, OFF)

    def as_dict(self) -> dict[str, str]:
        """What is stored with the message and shown in the API (``sender_auth``)."""
        data = {"result": self.result, "method": self.method, "domain": self.domain,
                "dkim": self.dkim, "spf": self.spf, "reason": self.reason}  # fmt: skip
        if self.dkim_domain:
            data["dkim_domain"] = self.dkim_domain
        if self.spf_domain:
            data["spf_domain"] = self.spf_domain
        if self.dmarc_policy:
            data["dmarc_policy"] = self.dmarc_policy
        return data


NOT_CHECKED = SenderAuth(OFF, method="off", reason="sender authentication is off")


class DnsTempError(Exception):
    """A DNS query failed or timed out: the answer is unknown, not "no record"."""


# -- alignment ------------------------------------------------------------------------------


@cache
def _suffixes() -> PublicSuffixList:
    return PublicSuffixList()  # the list the package ships (no download)


def organizational_domain(domain: str) -> str:
    """The registrable domain ("mail.example.co.uk" -> "example.co.uk"); a public suffix itself
    (or an unknown top-level domain's last two labels) stands for itself."""
    domain = domain.lower().rstrip(".")
    return _suffixes().privatesuffix(domain) or domain


def aligned(domain: str, from_domain: str, *, strict: bool = False) -> bool:
    """DMARC identifier alignment of an authenticated ``domain`` with the From domain."""
    a, b = domain.lower().rstrip("."), from_domain.lower().rstrip(".")
    if not a or not b:
        return False
    return a == b if strict else organizational_domain(a) == organizational_domain(b)


def domain_of(address: str) -> str:
    return address.strip().strip("<>").rpartition("@")[2].lower().rstrip(".")


# -- DNS ------------------------------------------------------------------------------------


def make_resolver(servers: Sequence[str], timeout: float) -> dns.resolver.Resolver:
    """A resolver for ``servers`` ("host" or "host:port"), else the system's configuration."""
    resolver = dns.resolver.Resolver(configure=not servers)
    if servers:
        resolver.nameservers = [_nameserver(server) for server in servers]
    resolver.timeout = timeout
    resolver.lifetime = timeout
    resolver.cache = dns.resolver.LRUCache(2048)
    return resolver


def _nameserver(server: str) -> dns.nameserver.Nameserver:
    text = server.strip()
    host, port = text, 53
    if text.startswith("["):  # [v6]:port
        host, _, rest = text[1:].partition("]")
        port = int(rest.removeprefix(":") or 53)
    elif text.count(":") == 1:  # v4:port or name:port
        host, _, number = text.partition(":")
        port = int(number)
    ipaddress.ip_address(host)  # ValueError for anything but an address
    return dns.nameserver.Do53Nameserver(host, port)


def parse_dns_servers(servers: Iterable[str]) -> list[str]:
    """Check a list of DNS servers (settings); raise ValueError naming the bad one."""
    checked = []
    for server in servers:
        try:
            _nameserver(server)
        except ValueError as exc:
            raise ValueError(f"{server!r} is not a DNS server address (host or host:port)") from exc
        checked.append(server.strip())
    return checked


class _Dns:
    """Blocking lookups through one resolver (called in the check's worker thread)."""

    def __init__(self, resolver: dns.resolver.Resolver) -> None:
        self.resolver = resolver

    def answer(self, name: str, qtype: str) -> list[Any]:
        """The records of ``name`` (``[]`` when there are none); raise DnsTempError on failure."""
        try:
            answer = self.resolver.resolve(name, qtype, raise_on_no_answer=False, search=False)
        except dns.resolver.NXDOMAIN:
            return []
        except (dns.exception.Timeout, dns.resolver.NoNameservers) as exc:
            raise DnsTempError(f"DNS {qtype} {name}: {type(exc).__name__}") from exc
        except dns.exception.DNSException as exc:  # a malformed name and such: no such record
            log.debug("email auth: DNS %s %s: %s", qtype, name, exc)
            return []
        return list(answer.rrset or [])

    def txt(self, name: str) -> list[bytes]:
        return [b"".join(record.strings) for record in self.answer(name, "TXT")]

    def dkim_key(self, name: str | bytes, timeout: float = 5) -> bytes | None:
        """dkimpy's ``dnsfunc``: the key record of ``selector._domainkey.domain``."""
        text = name.decode("ascii", "replace") if isinstance(name, bytes) else name
        records = self.txt(text)
        return records[0] if records else None

    def spf_lookup(
        self, name: str, qtype: str, strict: bool = True, timeout: float = 30
    ) -> list[tuple[tuple[str, str], Any]]:
        """pyspf's ``DNSLookup``: ((name, type), value) pairs, TempError on failure."""
        try:
            records = self.answer(name, qtype)
        except DnsTempError as exc:
            raise spf.TempError(str(exc)) from exc
        found: list[tuple[tuple[str, str], Any]] = []
        for record in records:
            if qtype in ("A", "AAAA"):
                found.append(((name, qtype), record.address))
            elif qtype == "MX":
                found.append(((name, qtype), (record.preference, record.exchange)))
            elif qtype == "PTR":
                found.append(((name, qtype), record.target.to_text(True)))
            elif qtype in ("TXT", "SPF"):
                found.append(((name, qtype), record.strings))
            elif qtype == "CNAME":
                found.append(((name, qtype), record.target.to_text(True)))
        return found


# pyspf looks everything up through its module-level DNSLookup (its own test suite replaces it
# the same way). Ours sends each check's queries to that check's resolver, found through the
# worker thread's state; without one (pyspf used elsewhere) it asks the system's resolver.
_SPF_DNS: dict[int, _Dns] = {}
_system_spf_lookup = spf.DNSLookup


def _spf_dns_lookup(
    name: str, qtype: str, strict: bool = True, timeout: float = 30
) -> list[tuple[tuple[str, str], Any]]:
    lookup = _SPF_DNS.get(threading.get_ident())
    if lookup is None:
        result: list[tuple[tuple[str, str], Any]] = _system_spf_lookup(name, qtype, strict, timeout)
        return result
    return lookup.spf_lookup(name, qtype, strict, timeout)


spf.DNSLookup = _spf_dns_lookup


# -- the checks -----------------------------------------------------------------------------


@dataclass(slots=True)
class _Dmarc:
    policy: str = ""
    strict_dkim: bool = False
    strict_spf: bool = False


def dmarc_record(lookup: Callable[[str], list[bytes]], from_domain: str) -> _Dmarc:
    """The From domain's DMARC record, else its organizational domain's (RFC 7489 6.6.3)."""
    org = organizational_domain(from_domain)
    for name in dict.fromkeys((from_domain, org)):
        records = [r for r in lookup(f"_dmarc.{name}") if r.lower().startswith(b"v=dmarc1")]
        if len(records) == 1:
            tags = _tags(records[0].decode("ascii", "replace"))
            policy = tags.get("sp" if name != from_domain and "sp" in tags else "p", "")
            return _Dmarc(policy.lower(), tags.get("adkim") == "s", tags.get("aspf") == "s")
    return _Dmarc()


def _tags(record: str) -> dict[str, str]:
    tags = {}
    for item in record.split(";"):
        key, eq, value = item.partition("=")
        if eq:
            tags[key.strip().lower()] = value.strip()
    return tags


def verify_sync(
    content: bytes,
    *,
    from_domain: str,
    mail_from: str,
    helo: str,
    client_ip: str,
    resolver: dns.resolver.Resolver,
    dns_timeout: float,
    deadline: float,
    receiver: str = "localhost",
) -> SenderAuth:
    """DKIM, SPF and DMARC alignment for one mail (blocking: run it in a thread)."""
    lookup = _Dns(resolver)
    # DKIM: every signature (up to MAX_SIGNATURES), each "pass", "fail", "temperror" or
    # "permerror" (a malformed signature or key).
    outcomes: list[tuple[str, str]] = []
    signatures = _signature_domains(content)[:MAX_SIGNATURES]
    if signatures:
        checker = dkim.DKIM(content, minkey=1024, timeout=dns_timeout, logger=_QUIET)
        for index, domain in enumerate(signatures):
            try:
                outcome = PASS if checker.verify(idx=index, dnsfunc=lookup.dkim_key) else FAIL
            except DnsTempError:
                outcome = TEMPERROR
            except dkim.ValidationError as exc:  # e.g. the body hash does not match
                log.debug("email auth: DKIM signature %d: %s", index, exc)
                outcome = FAIL
            except dkim.DKIMException as exc:
                log.debug("email auth: DKIM signature %d: %s", index, exc)
                outcome = "permerror"
            outcomes.append((domain, outcome))
    temp = any(outcome == TEMPERROR for _, outcome in outcomes)
    passed = [domain for domain, outcome in outcomes if outcome == PASS]
    dkim_result, dkim_domain = "none", ""
    for wanted in (PASS, TEMPERROR, "permerror", FAIL):
        found = [domain for domain, outcome in outcomes if outcome == wanted]
        if found:
            dkim_result, dkim_domain = wanted, found[0]
            break
    if dkim_result == PASS:  # show an aligned one when there is one
        dkim_domain = next((d for d in passed if aligned(d, from_domain)), dkim_domain)
    # SPF: the MAIL FROM domain, or the HELO name for a null sender (RFC 7208 2.4).
    spf_domain = domain_of(mail_from) if "@" in mail_from else helo.lower().rstrip(".")
    spf_result = "none"
    if client_ip and spf_domain:
        _SPF_DNS[threading.get_ident()] = lookup
        try:
            spf_result, _ = spf.check2(
                i=client_ip, s=mail_from or f"postmaster@{spf_domain}", h=helo or spf_domain,
                receiver=receiver, timeout=dns_timeout, querytime=deadline,
            )  # fmt: skip
        except (spf.TempError, DnsTempError):
            spf_result = TEMPERROR
        except spf.PermError:
            spf_result = "permerror"
        except ValueError:  # not an IP address pyspf understands
            spf_result = "none"
        finally:
            _SPF_DNS.pop(threading.get_ident(), None)
        temp = temp or spf_result == TEMPERROR
    # DMARC: the record's strictness and policy, then alignment.
    try:
        dmarc = dmarc_record(lookup.txt, from_domain) if from_domain else _Dmarc()
    except DnsTempError:
        dmarc, temp = _Dmarc(), True
    dkim_ok = any(aligned(domain, from_domain, strict=dmarc.strict_dkim) for domain in passed)
    spf_ok = spf_result == PASS and aligned(spf_domain, from_domain, strict=dmarc.strict_spf)
    result = PASS if dkim_ok or spf_ok else (TEMPERROR if temp else FAIL)
    reason = _reason(result, from_domain, dkim_result, dkim_domain, dkim_ok, spf_result,
                     spf_domain, spf_ok)  # fmt: skip
    return SenderAuth(
        result, from_domain, dkim_result, dkim_domain, spf_result, spf_domain,
        dmarc.policy, "verify", reason,
    )  # fmt: skip


def _reason(
    result: str, from_domain: str, dkim_result: str, dkim_domain: str, dkim_ok: bool,
    spf_result: str, spf_domain: str, spf_ok: bool,
) -> str:  # fmt: skip
    dkim_text = f"DKIM {dkim_result}" + (f" ({dkim_domain})" if dkim_domain else "")
    spf_text = f"SPF {spf_result}" + (f" ({spf_domain})" if spf_domain else "")
    if result == PASS:
        how = dkim_text if dkim_ok else spf_text
        return f"{how}, aligned with {from_domain}"
    if result == TEMPERROR:
        return f"could not check now (DNS failure): {dkim_text}, {spf_text}"
    return f"not authenticated for {from_domain or 'the sender'}: {dkim_text}, {spf_text}"


def header_block(content: bytes) -> Message:
    """The mail's header fields (parsed without reading the body: it may be megabytes)."""
    end = min((i for i in (content.find(b"\r\n\r\n"), content.find(b"\n\n")) if i >= 0),
              default=len(content))  # fmt: skip
    return BytesHeaderParser(policy=compat32).parsebytes(content[: end + 2], headersonly=True)


def _signature_domains(content: bytes) -> list[str]:
    """The d= of each DKIM-Signature header, top first (which dkimpy's idx counts)."""
    headers = header_block(content)
    domains = []
    for value in headers.get_all("DKIM-Signature") or []:
        tags = _tags(" ".join(str(value).split()))
        domains.append(tags.get("d", "").lower())
    return domains


class _QuietLogger(logging.LoggerAdapter[logging.Logger]):
    """dkimpy logs a failed signature at ERROR; for us it is an ordinary outcome."""

    def error(self, msg: object, *args: object, **kwargs: Any) -> None:
        self.debug(msg, *args, **kwargs)


_QUIET = _QuietLogger(logging.getLogger("msgcenter.dkim"), {})


# -- trust_upstream: Authentication-Results ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class ResultInfo:
    method: str
    result: str
    props: dict[str, str] = field(default_factory=dict)


def parse_authentication_results(value: str) -> tuple[str, list[ResultInfo]]:
    """An ``Authentication-Results`` value (RFC 8601): its authserv-id and its results."""
    text = _strip_comments(" ".join(value.split()))
    parts = _split_outside_quotes(text, ";")
    head = parts[0].split()
    authserv_id = head[0].strip('"').lower() if head else ""
    results = []
    for part in parts[1:]:
        tokens = _split_outside_quotes(part.strip(), " ")
        tokens = [token for token in tokens if token]
        if not tokens or "=" not in tokens[0]:
            continue  # "none", or garbage
        method, _, result = tokens[0].partition("=")
        props = {}
        for token in tokens[1:]:
            key, eq, prop = token.partition("=")
            if eq:
                props[key.lower()] = prop.strip('"')
        results.append(ResultInfo(method.split("/")[0].lower(), result.lower(), props))
    return authserv_id, results


def _strip_comments(text: str) -> str:
    out, depth, quoted, escaped = [], 0, False, False
    for char in text:
        if escaped:
            escaped = False
            if not depth:
                out.append(char)
            continue
        if char == "\\":
            escaped = True
            if not depth:
                out.append(char)
            continue
        if char == '"' and not depth:
            quoted = not quoted
        elif not quoted and char == "(":
            depth += 1
            continue
        elif not quoted and char == ")" and depth:
            depth -= 1
            continue
        if not depth:
            out.append(char)
    return "".join(out)


def _split_outside_quotes(text: str, separator: str) -> list[str]:
    parts: list[str] = []
    current: list[str] = []
    quoted = False
    for char in text:
        if char == '"':
            quoted = not quoted
        if char == separator and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return parts


def from_upstream(content: bytes, *, authserv_id: str, from_domain: str) -> SenderAuth:
    """The verdict of the topmost ``Authentication-Results`` carrying ``authserv_id``."""
    headers = header_block(content)
    wanted = authserv_id.lower()
    for value in headers.get_all("Authentication-Results") or []:
        server, results = parse_authentication_results(str(value))
        if server == wanted:
            return _upstream_verdict(results, from_domain)
    return SenderAuth(FAIL, from_domain, method="upstream",
                      reason=f"no Authentication-Results from {authserv_id}")  # fmt: skip


def _upstream_verdict(results: list[ResultInfo], from_domain: str) -> SenderAuth:
    by_method: dict[str, list[ResultInfo]] = {}
    for info in results:
        by_method.setdefault(info.method, []).append(info)
    dkim_best = next(iter(by_method.get("dkim", [])), None)
    spf_info = next(iter(by_method.get("spf", [])), None)
    dkim_domain, dkim_ok = "", False
    for info in by_method.get("dkim", []):
        domain = info.props.get("header.d") or domain_of(info.props.get("header.i", ""))
        if info.result == PASS and aligned(domain, from_domain):
            dkim_best, dkim_domain, dkim_ok = info, domain, True
            break
    spf_domain = ""
    if spf_info is not None:
        spf_domain = domain_of(spf_info.props.get("smtp.mailfrom", "")) or spf_info.props.get(
            "smtp.helo", ""
        )
    spf_ok = spf_info is not None and spf_info.result == PASS and aligned(spf_domain, from_domain)
    dmarc_ok = any(
        info.result == PASS and info.props.get("header.from", "").lower() == from_domain
        for info in by_method.get("dmarc", [])
    )
    temp = any(info.result == TEMPERROR for info in results)
    result = PASS if (dmarc_ok or dkim_ok or spf_ok) else (TEMPERROR if temp else FAIL)
    dkim_result = dkim_best.result if dkim_best else "none"
    spf_result = spf_info.result if spf_info else "none"
    if not dkim_domain and dkim_best is not None:
        dkim_domain = dkim_best.props.get("header.d", "")
    if dmarc_ok and not (dkim_ok or spf_ok):
        reason = f"DMARC pass for {from_domain} (upstream)"
    else:
        reason = _reason(result, from_domain, dkim_result, dkim_domain, dkim_ok, spf_result,
                         spf_domain, spf_ok) + " (upstream)"  # fmt: skip
    return SenderAuth(result, from_domain, dkim_result, dkim_domain, spf_result, spf_domain,
                      "", "upstream", reason)  # fmt: skip


# -- the service's checker --------------------------------------------------------------------


class SenderVerifier:
    """Checks inbound mail per :class:`AuthConfig`, off the event loop, within a deadline."""

    def __init__(self, config: AuthConfig, receiver: str = "localhost") -> None:
        self.config = config
        self.receiver = receiver
        self._resolver: dns.resolver.Resolver | None = None
        self._pool: ThreadPoolExecutor | None = None

    @property
    def enabled(self) -> bool:
        return self.config.mode != "off"

    @property
    def _method(self) -> str:
        return "upstream" if self.config.mode == "trust_upstream" else "verify"

    async def check(
        self,
        content: bytes,
        *,
        from_address: str,
        mail_from: str | None,
        helo: str | None,
        client_ip: str | None,
    ) -> SenderAuth:
        """The verdict on one mail; never raises for DNS trouble or a bad mail."""
        from_domain = domain_of(from_address)
        if self.config.mode == "off":
            return NOT_CHECKED
        try:
            return await self._check(content, from_domain, mail_from, helo, client_ip)
        except TimeoutError:
            log.info("email auth: the check of mail from %s timed out", from_domain)
            return SenderAuth(TEMPERROR, from_domain, method=self._method,
                              reason="could not check now (timed out)")  # fmt: skip
        except dns.exception.DNSException as exc:  # e.g. no resolver configuration
            log.warning("email auth: DNS unusable for mail from %s: %r", from_domain, exc)
            return SenderAuth(TEMPERROR, from_domain, method=self._method,
                              reason=f"could not check now ({type(exc).__name__})")  # fmt: skip
        except Exception as exc:  # noqa: BLE001 (a library failing on hostile mail: not verified)
            log.warning("email auth: checking mail from %s failed: %r", from_domain, exc)
            return SenderAuth(FAIL, from_domain, method=self._method,
                              reason=f"could not be checked ({type(exc).__name__})")  # fmt: skip

    async def _check(
        self,
        content: bytes,
        from_domain: str,
        mail_from: str | None,
        helo: str | None,
        client_ip: str | None,
    ) -> SenderAuth:
        if len(header_block(content).get_all("From") or []) > 1:
            # Which From would a signature or a result be about? DMARC (RFC 7489 6.6.1)
            # leaves such mail unverified.
            return SenderAuth(FAIL, from_domain, method=self._method,
                              reason="several From header fields")  # fmt: skip
        if self.config.mode == "trust_upstream":
            if not self._from_upstream(client_ip):
                return SenderAuth(FAIL, from_domain, method="upstream",
                                  reason=f"not received through the trusted upstream "
                                  f"(client {client_ip or 'unknown'})")  # fmt: skip
            return from_upstream(
                content, authserv_id=self.config.authserv_id, from_domain=from_domain
            )
        work = partial(
            verify_sync, content, from_domain=from_domain, mail_from=mail_from or "",
            helo=helo or "", client_ip=client_ip or "", resolver=self._dns(),
            dns_timeout=self.config.dns_timeout, deadline=self.config.timeout,
            receiver=self.receiver,
        )  # fmt: skip
        async with asyncio.timeout(self.config.timeout):
            return await asyncio.get_running_loop().run_in_executor(self._executor(), work)

    def _from_upstream(self, client_ip: str | None) -> bool:
        if not client_ip:
            return False
        try:
            address = ipaddress.ip_address(client_ip.split("%")[0])
        except ValueError:
            return False
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        return any(address in network for network in self.config.upstream_networks)

    def _dns(self) -> dns.resolver.Resolver:
        if self._resolver is None:
            self._resolver = make_resolver(self.config.dns_servers, self.config.dns_timeout)
        return self._resolver

    def _executor(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.config.workers, thread_name_prefix="mail-auth")
        return self._pool

    def close(self) -> None:
        if self._pool is not None:
            with contextlib.suppress(RuntimeError):
                self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
