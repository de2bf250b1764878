"""HTTPS to a pinned address still checks the certificate against the URL's host name."""

from __future__ import annotations

import datetime
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from service.webhooks.addresses import AddressPolicy
from service.webhooks.sender import PinnedHttpSender
from service.webhooks.signing import new_signing_secret, webhook_headers
from service.webhooks.targets import TargetGuard
from tests.integration.webhooks.receiver import WebhookReceiver
from tests.integration.webhooks.test_delivery import HostsFile

CERT_HOST = "hooks.example.test"


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _write_pem(path: Path, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> None:
    path.write_bytes(
        cert.public_bytes(serialization.Encoding.PEM)
        + key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


@pytest.fixture(scope="module")
def test_ca(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(CA certificate, server cert+key for ``hooks.example.test`` signed by it), as PEM."""
    directory = tmp_path_factory.mktemp("tls")
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(_name("ftapi test CA"))
        .issuer_name(_name("ftapi test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    server_key = ec.generate_private_key(ec.SECP256R1())
    server_cert = (
        x509.CertificateBuilder()
        .subject_name(_name(CERT_HOST))
        .issuer_name(ca_cert.subject)
        .public_key(server_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(CERT_HOST)]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    ca_path = directory / "ca.pem"
    ca_path.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    server_path = directory / "server.pem"
    _write_pem(server_path, server_cert, server_key)
    return ca_path, server_path


@pytest.fixture
def tls_receiver(test_ca: tuple[Path, Path]) -> Iterator[WebhookReceiver]:
    """An HTTPS receiver on 127.0.0.1 presenting the ``hooks.example.test`` certificate."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(test_ca[1])
    server = WebhookReceiver(tls=context)
    server.start()
    try:
        yield server
    finally:
        server.stop()


async def _send(url: str, ca_path: Path | None) -> tuple[int | None, str | None]:
    guard = TargetGuard(
        AddressPolicy(allow_private=True),
        HostsFile({CERT_HOST: ["127.0.0.1"], "other.example.test": ["127.0.0.1"]}),
    )
    target = await guard.check(url)
    assert [str(address) for address in target.addresses] == ["127.0.0.1"]
    body = b'{"id":"evt_1"}'
    headers = webhook_headers("evt_1", 1, body, [new_signing_secret()])
    sender = (
        PinnedHttpSender(timeout_s=5)  # the default trust: public CAs only
        if ca_path is None
        else PinnedHttpSender(timeout_s=5, verify=ssl.create_default_context(cafile=str(ca_path)))
    )
    try:
        result = await sender.send(target, body, headers)
    finally:
        await sender.close()
    return result.status_code, result.error


async def test_tls_to_the_pinned_address_names_the_host_in_sni_and_host(
    tls_receiver: WebhookReceiver, test_ca: tuple[Path, Path]
) -> None:
    status, error = await _send(f"https://{CERT_HOST}:{tls_receiver.port}/in", test_ca[0])

    assert (status, error) == (200, None)
    (request,) = tls_receiver.requests
    assert request.headers["host"] == f"{CERT_HOST}:{tls_receiver.port}"
    assert tls_receiver.sni_names == [CERT_HOST]


async def test_a_certificate_for_another_name_is_refused(
    tls_receiver: WebhookReceiver, test_ca: tuple[Path, Path]
) -> None:
    status, error = await _send(f"https://other.example.test:{tls_receiver.port}/", test_ca[0])

    assert status is None
    assert error is not None
    assert "CERTIFICATE_VERIFY_FAILED" in error
    assert tls_receiver.requests == []


async def test_by_default_only_public_certificate_authorities_are_trusted(
    tls_receiver: WebhookReceiver, test_ca: tuple[Path, Path]
) -> None:
    status, error = await _send(f"https://{CERT_HOST}:{tls_receiver.port}/in", None)

    assert status is None
    assert error is not None
    assert "CERTIFICATE_VERIFY_FAILED" in error
