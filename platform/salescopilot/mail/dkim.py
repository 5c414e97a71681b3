"""DKIM (RFC 6376) signing of outgoing messages with dkimpy, RSA-SHA256 or Ed25519-SHA256
(RFC 8463), relaxed/relaxed, and the keys a tenant publishes in DNS."""

from __future__ import annotations

import asyncio
import base64
import functools
import multiprocessing
import multiprocessing.connection
import os
import re
import threading
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from email.parser import BytesHeaderParser
from email.policy import compat32
from typing import TYPE_CHECKING, Literal

import dkim
import idna
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric import utils as asym_utils

from salescopilot.errors import DomainError

if TYPE_CHECKING:
    from salescopilot.mail.message import DkimKey


def _openssl_rsa_sign(digest, private_key: dict) -> bytes:  # noqa: ANN001 - a hashlib object
    """RSASSA-PKCS1-v1_5 (RFC 8017) by OpenSSL, in place of dkimpy's pure-Python one.

    dkimpy signs with Python's `pow`: about 5 ms per RSA-2048 signature on this machine, the
    largest cost of sending a message, and not constant-time. PKCS#1 v1.5 signatures are
    deterministic, so OpenSSL's is byte for byte the one dkimpy would make (the tests verify
    every signature with dkimpy's own verifier).
    """
    key = _openssl_rsa_key(
        private_key["modulus"], private_key["publicExponent"], private_key["privateExponent"],
        private_key["prime1"], private_key["prime2"], private_key["exponent1"],
        private_key["exponent2"], private_key["coefficient"],
    )
    algorithm = {"sha256": hashes.SHA256(), "sha1": hashes.SHA1()}[digest.name]  # noqa: S303
    return key.sign(digest.digest(), padding.PKCS1v15(), asym_utils.Prehashed(algorithm))


@functools.lru_cache(maxsize=256)
def _openssl_rsa_key(n: int, e: int, d: int, p: int, q: int, dmp1: int, dmq1: int, iqmp: int):  # noqa: ANN202
    numbers = rsa.RSAPrivateNumbers(p, q, d, dmp1, dmq1, iqmp, rsa.RSAPublicNumbers(e, n))
    # Checked once when the key was stored (`_signing_key` loads it with OpenSSL's checks).
    return numbers.private_key(unsafe_skip_rsa_key_validation=True)


dkim.RSASSA_PKCS1_v1_5_sign = _openssl_rsa_sign
#: dkimpy reads the PEM key's ASN.1 in Python on every signature; a key is read once. The result
#: (a dict of the key's numbers) is only read by `_openssl_rsa_sign`, never changed.
dkim.parse_pem_private_key = functools.lru_cache(maxsize=256)(dkim.parse_pem_private_key)


class InvalidDkimKey(DomainError):
    code = "INVALID_DKIM_KEY"
    status_code = 400
    default_message = "The DKIM key cannot be used."


#: Signed when present, in this order. From is always present (and required by RFC 6376).
SIGNED_HEADERS: tuple[str, ...] = (
    "From", "To", "Subject", "Date", "Message-ID", "MIME-Version", "Content-Type",
    "List-Unsubscribe", "List-Unsubscribe-Post", "In-Reply-To", "References", "Reply-To",
)

_SELECTOR = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,62})(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}))*$")


def generate_dkim_key(kind: Literal["rsa", "ed25519"] = "rsa") -> tuple[bytes, str]:
    """A new signing key: (private key PEM, the value of the `<selector>._domainkey` TXT record)."""
    if kind == "rsa":
        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    elif kind == "ed25519":
        private = ed25519.Ed25519PrivateKey.generate()
    else:
        raise ValueError(f"unknown DKIM key kind {kind!r}: use 'rsa' or 'ed25519'")
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return pem, dkim_txt_record(pem)


def dkim_txt_record(private_key_pem: bytes) -> str:
    """The `v=DKIM1` TXT value that publishes the public half of a PEM private key."""
    try:
        key = serialization.load_pem_private_key(private_key_pem, password=None)
    except (ValueError, TypeError) as error:
        raise InvalidDkimKey(f"the DKIM private key is not a readable PEM key: {error}") from None
    if isinstance(key, rsa.RSAPrivateKey):
        der = key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return f"v=DKIM1; k=rsa; p={base64.b64encode(der).decode()}"
    if isinstance(key, ed25519.Ed25519PrivateKey):
        raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return f"v=DKIM1; k=ed25519; p={base64.b64encode(raw).decode()}"
    raise InvalidDkimKey("DKIM keys are RSA or Ed25519.")


def sign_message(raw: bytes, key: DkimKey, headers: Iterable[str] | None = None) -> bytes:
    """`raw` with a DKIM-Signature header in front, signed by `key`'s domain and selector.

    `headers` names the header fields `raw` has, when the caller knows them (`build_message`
    does): the ones of `SIGNED_HEADERS` among them are signed. Without it `raw` is read for them."""
    algorithm, dkimpy_key = _signing_key(key.private_key_pem)
    if not _SELECTOR.match(key.selector):
        raise InvalidDkimKey(f"{key.selector!r} is not a valid DKIM selector")
    if headers is None:
        headers = BytesHeaderParser(policy=compat32).parsebytes(raw).keys()
    present = {name.lower() for name in headers}
    signed = [h.encode() for h in SIGNED_HEADERS if h.lower() in present]
    try:
        signature = dkim.sign(
            raw,
            key.selector.encode("ascii"),
            _ascii_domain(key.domain),
            dkimpy_key,
            canonicalize=(b"relaxed", b"relaxed"),
            include_headers=signed,
            signature_algorithm=algorithm,
            linesep=b"\r\n",
        )
    except dkim.DKIMException as error:
        raise InvalidDkimKey(f"DKIM signing failed: {error}") from None
    return signature + raw


def sign_batch(jobs: list[tuple[bytes, DkimKey, tuple[str, ...]]]) -> list[bytes | Exception]:
    """`sign_message` of each job, an error in the place of a message that cannot be signed (run
    in a pool process: one bad key must not lose the others' signatures)."""
    signed: list[bytes | Exception] = []
    for raw, key, headers in jobs:
        try:
            signed.append(sign_message(raw, key, headers))
        except Exception as error:  # noqa: BLE001 - reported per message to the sender
            signed.append(error)
    return signed


@functools.lru_cache(maxsize=1024)
def _ascii_domain(domain: str) -> bytes:
    """Cached: IDNA with UTS 46 mapping runs in Python, and a tenant signs for few domains."""
    try:
        return idna.encode(domain.strip().rstrip("."), uts46=True)
    except idna.IDNAError as error:
        raise InvalidDkimKey(f"{domain!r} is not a valid signing domain: {error}") from None


@functools.lru_cache(maxsize=256)
def _signing_key(pem: bytes) -> tuple[bytes, bytes]:
    """(dkimpy's algorithm name, the key in the form dkimpy reads) for a PEM private key.
    Cached: loading an RSA key checks it, which costs tens of milliseconds, once per key."""
    try:
        private = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as error:
        raise InvalidDkimKey(f"the DKIM private key is not a readable PEM key: {error}") from None
    if isinstance(private, rsa.RSAPrivateKey):
        if private.key_size < 1024:
            raise InvalidDkimKey("RSA DKIM keys must have at least 1024 bits (2048 recommended)")
        traditional = private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
        return b"rsa-sha256", traditional
    if isinstance(private, ed25519.Ed25519PrivateKey):
        # dkimpy takes an Ed25519 key as the base64 of its 32-byte seed (RFC 8463 section 4).
        seed = private.private_bytes(
            serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
        )
        return b"ed25519-sha256", base64.b64encode(seed)
    raise InvalidDkimKey("DKIM keys must be RSA or Ed25519")


class DkimSigner:
    """Signs messages in a pool of worker processes, or inline when given none.

    RSA signing and dkimpy's canonicalisation are CPU work (about a millisecond a message): done
    on a sender's event loop they stall its SMTP connections and leave the other cores idle. The
    pool's processes run beside the event loop, on other cores. They run `sign_message` itself,
    so a message is signed in the pool exactly as it would be inline. They are spawned (a fresh
    interpreter that imports the main module again): a program's main module must keep its work
    under `if __name__ == "__main__":`, as every entry point of ours does.
    """

    def __init__(self, processes: int) -> None:
        self.processes = max(0, processes)
        self._executor: ProcessPoolExecutor | None = None

    async def sign(self, raw: bytes, key: DkimKey, headers: Iterable[str]) -> bytes:
        """`sign_message(raw, key, headers)`, in the pool."""
        [signed] = await self.sign_many([(raw, key, tuple(headers))])
        if isinstance(signed, Exception):
            raise signed
        return signed

    async def sign_many(self, jobs: list[tuple[bytes, DkimKey, tuple[str, ...]]]) -> list[bytes | Exception]:
        """`sign_message` of each (raw, key, headers), in order, each the signed message or why it
        could not be signed. A batch is one task per pool process rather than one per message:
        every task costs the event loop's process pickling, a pipe round trip and the pool's
        management thread, which competes for the interpreter with the SMTP connections. A pool
        whose process died is started again; the batch is then signed inline rather than lost."""
        if not jobs:
            return []
        if self.processes == 0:
            return sign_batch(jobs)
        loop = asyncio.get_running_loop()
        size = -(-len(jobs) // self.processes)
        try:
            batches = await asyncio.gather(*(
                loop.run_in_executor(self._pool(), sign_batch, jobs[start:start + size])
                for start in range(0, len(jobs), size)
            ))
        except BrokenProcessPool:
            self.shutdown()
            return sign_batch(jobs)
        return [signed for batch in batches for signed in batch]

    def _pool(self) -> ProcessPoolExecutor:
        if self._executor is None:
            # spawn, not fork: forking a process that runs an event loop and threads copies
            # their locks in whatever state they are.
            self._executor = ProcessPoolExecutor(
                self.processes, mp_context=multiprocessing.get_context("spawn"), initializer=_exit_with_parent
            )
        return self._executor

    def shutdown(self) -> None:
        executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)


def _exit_with_parent() -> None:
    """Run in each signing process: exit as soon as the process that started it is gone. A
    sender killed outright (SIGKILL, the OOM killer) never stops its pool, and a pool process
    otherwise waits for work forever."""
    parent = multiprocessing.parent_process()
    if parent is None:
        return

    def watch() -> None:
        multiprocessing.connection.wait([parent.sentinel])
        os._exit(0)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


@functools.cache
def dkim_signer(processes: int) -> DkimSigner:
    """The process's signer with that many worker processes (one pool per process, started at
    its first signature and stopped when the process exits)."""
    return DkimSigner(processes)
