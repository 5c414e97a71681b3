"""The service provider's own key pair per tenant: signs AuthnRequests and logout messages."""

from __future__ import annotations

import datetime as dt

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

#: Long-lived on purpose: IdPs pin the SP certificate from its metadata; rotating it is a
#: deliberate act ("new SP certificate" on the settings page), not an expiry surprise.
SP_CERT_LIFETIME = dt.timedelta(days=3650)


def new_sp_key_pair(common_name: str, now: dt.datetime) -> tuple[str, str]:
    """(certificate PEM, private key PEM) for a new RSA-3072 self-signed certificate."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=3072)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name[:64] or "salescopilot")])
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + SP_CERT_LIFETIME)
        .sign(key, hashes.SHA256())
    )
    return (
        certificate.public_bytes(serialization.Encoding.PEM).decode(),
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode(),
    )


def certificate_summary(pem: str) -> dict[str, str]:
    """Subject, expiry and SHA-256 fingerprint of a PEM certificate, for the settings page."""
    certificate = x509.load_pem_x509_certificate(pem.encode())
    return {
        "subject": certificate.subject.rfc4514_string(),
        "notAfter": certificate.not_valid_after_utc.isoformat(),
        "sha256": certificate.fingerprint(hashes.SHA256()).hex(":").upper(),
    }


def normalise_certificate(text: str) -> str:
    """A certificate pasted with or without PEM armour, as PEM; ValueError when it is not one."""
    body = "".join(
        line.strip() for line in text.strip().splitlines() if line.strip() and "-----" not in line
    )
    if not body or len(body) > 20000:
        raise ValueError("empty or oversized certificate")
    lines = [body[i:i + 64] for i in range(0, len(body), 64)]
    pem = "-----BEGIN CERTIFICATE-----\n" + "\n".join(lines) + "\n-----END CERTIFICATE-----\n"
    x509.load_pem_x509_certificate(pem.encode())  # raises ValueError when it is not one
    return pem
