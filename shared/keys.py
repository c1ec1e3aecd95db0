"""Keys for one purpose each, derived (HKDF-SHA256) from a secret the service already holds, so a
new use of a secret needs no new secret and no two uses share a key. `info` names the purpose; it is
part of the key, so it never changes for a purpose already in use."""
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


def derived_key(secret: str | bytes, info: bytes) -> bytes:
    """A 32-byte key for the purpose `info`, from `secret`."""
    material = secret.encode() if isinstance(secret, str) else secret
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(material)
