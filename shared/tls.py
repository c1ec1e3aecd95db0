"""A certificate authority of the installation's own, for TLS between the services and PostgreSQL
and RabbitMQ where no other CA is at hand (docker compose; a first Kubernetes installation).

    python -m shared.tls DIR --server postgres=postgres --server rabbitmq=rabbitmq,localhost \
        --client casetrail_cases ...

writes into DIR, once each (an existing file is kept, so running it again changes nothing):
`ca.crt` (what every client trusts: PGSSLROOTCERT, AMQP_CA_FILE) and `ca.key`; for each server
NAME, `NAME.crt` and `NAME.key` naming the hosts given; for each client LOGIN, `LOGIN.crt` and
`LOGIN.key`, whose common name is the login (PostgreSQL's `clientcert=verify-full` checks it).
Keys are written mode 600. Certificates are ECDSA P-256, valid for `--days` (825 by default)."""
import argparse
import datetime
import ipaddress
import sys
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

DAYS = 825


@dataclass(frozen=True)
class Issued:
    cert: bytes  # PEM
    key: bytes  # PEM, unencrypted PKCS#8


class Authority:
    def __init__(self, key: ec.EllipticCurvePrivateKey, cert: x509.Certificate):
        self.key, self.cert = key, cert

    @classmethod
    def create(cls, name: str, days: int = DAYS) -> "Authority":
        key = ec.generate_private_key(ec.SECP256R1())
        subject = _name(name)
        cert = (_builder(subject, subject, key.public_key(), days)
                .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                             data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                             crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
                .sign(key, hashes.SHA256()))
        return cls(key, cert)

    @classmethod
    def load(cls, folder: Path) -> "Authority":
        key = serialization.load_pem_private_key((folder / "ca.key").read_bytes(), password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ValueError(f"{folder / 'ca.key'}: not an elliptic-curve private key (the CA's key is one)")
        return cls(key, x509.load_pem_x509_certificate((folder / "ca.crt").read_bytes()))

    @property
    def pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def server(self, hosts: list[str], days: int = DAYS) -> Issued:
        """A certificate a server presents: its first host is the common name, every host a
        subject alternative name (IP addresses as such)."""
        names = [x509.IPAddress(ipaddress.ip_address(h)) if _is_ip(h) else x509.DNSName(h) for h in hosts]
        return self._issue(hosts[0], days, ExtendedKeyUsageOID.SERVER_AUTH,
                           x509.SubjectAlternativeName(names))

    def client(self, login: str, days: int = DAYS) -> Issued:
        """A certificate a client presents: its common name is the login it connects as."""
        return self._issue(login, days, ExtendedKeyUsageOID.CLIENT_AUTH)

    def _issue(self, common_name: str, days: int, usage, *extensions) -> Issued:
        key = ec.generate_private_key(ec.SECP256R1())
        builder = (_builder(_name(common_name), self.cert.subject, key.public_key(), days)
                   .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                   .add_extension(x509.ExtendedKeyUsage([usage]), critical=False))
        for extension in extensions:
            builder = builder.add_extension(extension, critical=False)
        cert = builder.sign(self.key, hashes.SHA256())
        return Issued(cert.public_bytes(serialization.Encoding.PEM), _key_pem(key))

    def write(self, folder: Path) -> None:
        _write(folder / "ca.crt", self.pem, 0o644)
        _write(folder / "ca.key", _key_pem(self.key), 0o600)


def write_issued(folder: Path, name: str, issued: Issued) -> tuple[Path, Path]:
    cert, key = folder / f"{name}.crt", folder / f"{name}.key"
    _write(cert, issued.cert, 0o644)
    _write(key, issued.key, 0o600)
    return cert, key


def authority_in(folder: Path, name: str = "Casetrail installation CA", days: int = DAYS) -> Authority:
    """The folder's CA, made there if it has none yet."""
    if (folder / "ca.crt").exists():
        return Authority.load(folder)
    authority = Authority.create(name, days)
    authority.write(folder)
    return authority


def _builder(subject: x509.Name, issuer: x509.Name, public_key, days: int) -> x509.CertificateBuilder:
    now = datetime.datetime.now(datetime.UTC)
    return (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=days)))


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _key_pem(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _write(path: Path, data: bytes, mode: int) -> None:
    path.touch(mode=mode)
    path.chmod(mode)
    path.write_bytes(data)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m shared.tls", description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--server", action="append", default=[], metavar="NAME=HOST[,HOST...]")
    parser.add_argument("--client", action="append", default=[], metavar="LOGIN")
    parser.add_argument("--days", type=int, default=DAYS)
    args = parser.parse_args(argv)
    args.folder.mkdir(parents=True, exist_ok=True)
    authority = authority_in(args.folder, days=args.days)
    for server in args.server:
        name, _, hosts = server.partition("=")
        if not name or not hosts:
            parser.error(f"--server {server!r}: give NAME=HOST[,HOST...]")
        if not (args.folder / f"{name}.crt").exists():
            write_issued(args.folder, name, authority.server(hosts.split(","), args.days))
    for login in args.client:
        if not (args.folder / f"{login}.crt").exists():
            write_issued(args.folder, login, authority.client(login, args.days))
    return 0


if __name__ == "__main__":
    sys.exit(main())
