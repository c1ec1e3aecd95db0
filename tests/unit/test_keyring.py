"""The master key ring (services/cases/keyring.py): wrapping under the current key, unwrapping with
whichever key wrapped, fingerprints that name a key without showing it, the secrets file's rotation,
and the changes-feed cursors that outlive a rotation."""
import base64
import io
import uuid

import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from services.cases import keyring
from services.cases.keyring import MasterKeyNotHeld, MasterKeys, fingerprint, new_master_key, retired_keys
from services.cases.queries import ChangesCursor, ChangesCursors
from services.cases.settings import CasesSettings
from shared.errors import InvalidInput

OLD, NEW = bytes(range(32)), bytes(range(1, 33))
CASE, CASE_KEY = uuid.uuid4(), AESGCM.generate_key(bit_length=256)


def b64(key: bytes) -> str:
    return base64.b64encode(key).decode()


def test_a_fingerprint_names_a_key_stably_and_shows_nothing_of_it():
    assert fingerprint(OLD) == fingerprint(bytes(range(32)))
    assert fingerprint(OLD) != fingerprint(NEW)
    assert fingerprint(OLD).startswith("mk:") and len(fingerprint(OLD)) == 3 + 16
    assert OLD.hex()[:16] not in fingerprint(OLD)


def test_new_keys_are_wrapped_under_the_current_key_and_named_by_it():
    wrapped, key_id = MasterKeys(NEW, (OLD,)).wrap(CASE, CASE_KEY)
    assert key_id == fingerprint(NEW)
    assert AESGCM(NEW).decrypt(wrapped[:12], wrapped[12:], CASE.bytes) == CASE_KEY
    with pytest.raises(InvalidTag):  # bound to its case: moved to another case's row it does not open
        MasterKeys(NEW).unwrap(uuid.uuid4(), wrapped, key_id)


def test_a_retired_key_still_unwraps_what_it_wrapped():
    wrapped, key_id = MasterKeys(OLD).wrap(CASE, CASE_KEY)
    assert MasterKeys(NEW, (OLD,)).unwrap(CASE, wrapped, key_id) == CASE_KEY


def test_a_key_wrapped_before_keys_were_named_opens_with_whichever_key_wrapped_it():
    wrapped, _ = MasterKeys(OLD).wrap(CASE, CASE_KEY)
    assert MasterKeys(NEW, (OLD,)).unwrap(CASE, wrapped, None) == CASE_KEY
    with pytest.raises(MasterKeyNotHeld, match="opens with no master key"):
        MasterKeys(NEW).unwrap(CASE, wrapped, None)


def test_a_key_under_a_master_key_not_held_is_refused_by_name_and_never_shown():
    wrapped, key_id = MasterKeys(NEW).wrap(CASE, CASE_KEY)
    with pytest.raises(MasterKeyNotHeld) as refused:
        MasterKeys(OLD).unwrap(CASE, wrapped, key_id)
    message = str(refused.value)
    assert key_id in message and fingerprint(OLD) in message and "CASES_RETIRED_MASTER_KEYS" in message
    assert b64(NEW) not in message and b64(OLD) not in message


def test_the_ring_counts_each_key_once_current_first():
    ring = MasterKeys(NEW, (OLD, NEW, OLD))
    assert list(ring.by_id) == [fingerprint(NEW), fingerprint(OLD)]
    assert ring.retired_ids == [fingerprint(OLD)]
    assert repr(ring) == "MasterKeys()"  # never shown in a log or a traceback


def test_retired_keys_are_read_from_a_comma_separated_list_and_a_bad_one_is_named():
    assert retired_keys("") == () and retired_keys(" , ") == ()
    assert retired_keys(f"{b64(OLD)}, {b64(NEW)}") == (OLD, NEW)
    with pytest.raises(RuntimeError, match=r"CASES_RETIRED_MASTER_KEYS \(item 2\) must be 32 bytes"):
        retired_keys(f"{b64(OLD)},{b64(b'short')}")


def test_the_cases_settings_read_the_ring():
    given = {"CASES_CIPHER_KEY": "k", "CASES_MASTER_KEY": b64(NEW), "CASES_RETIRED_MASTER_KEYS": b64(OLD),
             "AUDIT_SIGNING_KEY": b64(bytes(32))}
    settings = CasesSettings.from_env(given)
    assert settings.master_keys == MasterKeys(NEW, (OLD,))
    assert b64(OLD) not in repr(settings)


def test_new_master_key_retires_the_current_one_in_the_secrets_file(tmp_path):
    secrets = tmp_path / "secrets.env"
    secrets.write_text(f"CASES_CIPHER_KEY=k\nCASES_MASTER_KEY={b64(OLD)}\nJWT_SECRET=j\n")
    secrets.chmod(0o600)
    made = new_master_key(secrets)
    values = dict(line.split("=", 1) for line in secrets.read_text().splitlines())
    fresh = base64.b64decode(values["CASES_MASTER_KEY"])
    assert len(fresh) == 32 and fresh != OLD and made.current_id == fingerprint(fresh)
    assert values["CASES_RETIRED_MASTER_KEYS"] == b64(OLD) and made.retired_ids == [fingerprint(OLD)]
    assert values["JWT_SECRET"] == "j" and oct(secrets.stat().st_mode)[-3:] == "600"
    new_master_key(secrets)  # a second rotation keeps both older keys
    values = dict(line.split("=", 1) for line in secrets.read_text().splitlines())
    assert retired_keys(values["CASES_RETIRED_MASTER_KEYS"]) == (fresh, OLD)

    out = io.StringIO()
    assert keyring.main(["drop-retired-master-keys", str(secrets)], out) == 0
    assert fingerprint(OLD) in out.getvalue() and "CASES_RETIRED_MASTER_KEYS=\n" in secrets.read_text()


def test_new_master_key_refuses_a_file_without_a_usable_master_key(tmp_path, capsys):
    secrets = tmp_path / "secrets.env"
    secrets.write_text("CASES_MASTER_KEY=not-a-key\n")
    assert keyring.main(["new-master-key", str(secrets)], io.StringIO()) == 2
    assert "CASES_MASTER_KEY must be 32 bytes" in capsys.readouterr().err
    assert secrets.read_text() == "CASES_MASTER_KEY=not-a-key\n"


def test_a_changes_cursor_given_out_before_a_rotation_is_still_read_after_it():
    cursor = ChangesCursor(42, "ab" * 16)
    before = ChangesCursors(MasterKeys(OLD)).make(cursor)
    after = ChangesCursors(MasterKeys(NEW, (OLD,)))
    assert after.read(before) == cursor
    assert after.make(cursor) != before and ChangesCursors(MasterKeys(NEW)).read(after.make(cursor)) == cursor
    with pytest.raises(InvalidInput):  # once the old key is dropped, so are its cursors
        ChangesCursors(MasterKeys(NEW)).read(before)
    with pytest.raises(InvalidInput):
        after.read(before[:-1] + ("0" if before[-1] != "0" else "1"))


def test_only_the_cases_service_is_given_the_retired_master_keys():
    from shared.secrets import SERVICES, own
    assert [service for service in SERVICES if own(service, "CASES_RETIRED_MASTER_KEYS")] == ["cases"]
    assert [service for service in SERVICES if own(service, "CASES_MASTER_KEY")] == ["cases"]
