"""Signed audit bundles and checkpoints (services/cases/attestation.py), checked offline."""
import base64
import hashlib
import io
import json
import os
import stat
import struct
from datetime import UTC, datetime, timedelta, timezone

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.cases import attestation
from services.cases.attestation import (
    AuditKeys,
    CheckpointInvalid,
    canonical,
    check_bundle,
    compare_with_checkpoint,
    key_id,
    keyring,
    latest_checkpoint,
    make_checkpoint,
    merkle_root,
    rotate_key,
    seal_bundle,
    verify_bundle_command,
    write_checkpoint,
)
from shared.secrets import generate
from shared.store import GENESIS

NOW = datetime(2025, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)


def new_keys() -> AuditKeys:
    return AuditKeys(Ed25519PrivateKey.generate())


def ring_of(keys: AuditKeys) -> dict:
    return keyring({"keys": keys.public_keys()})


def b64_private(keys: AuditKeys) -> str:
    return base64.b64encode(keys.current.private_bytes_raw()).decode()


def body(events: int = 5) -> dict:
    history, prev = [], GENESIS
    for sequence in range(1, events + 1):
        link = hashlib.sha256(f"{prev}:{sequence}".encode()).hexdigest()
        history.append({"sequence": sequence, "hash": link, "prev_hash": prev, "type": "CaseNoteAdded",
                        "actor": {"username": "cw1", "role": "caseworker"},
                        "data": {"note": "[redacted]", "minutes": 1.5 * sequence, "follow_up": None}})
        prev = link
    return {"case_id": "0b7f6a4e-4d1e-4f55-9a55-2c1c4d0c9e11", "case_number": "GBV-2025-0001",
            "exported_at": "2025-03-01T12:00:00Z", "exported_by": "auditor1",
            "verification": {"valid": True, "events": events, "head_hash": prev},
            "state": {"stage": "intake", "risk_level": "high", "survivor": {"name": "[redacted]"}},
            "history": history, "head_hash": prev}


# --- canonical JSON: RFC 8785's own examples ------------------------------------------------------

def test_canonical_json_is_rfc_8785s_example():
    # RFC 8785 section 3.2.2, input and output as printed there.
    text = r'''{"numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
                "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/", "literals": [null, true, false]}'''
    assert canonical(json.loads(text)) == ('{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,'
                                           '0.002,1e-27],"string":"\u20ac$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}').encode()


def test_canonical_keys_sort_by_utf16_code_units_not_code_points():
    # RFC 8785 section 3.2.3: the emoji (surrogates D83D DE00) sorts before U+FB33, though its code point is higher.
    names = ["\u20ac", "\r", "\ufb33", "1", "\U0001f600", "\u0080", "\u00f6"]
    order = list(json.loads(canonical({name: i for i, name in enumerate(names)})))
    assert order == ["\r", "1", "\u0080", "\u00f6", "\u20ac", "\U0001f600", "\ufb33"]


@pytest.mark.parametrize("ieee, text", [
    # RFC 8785 appendix B: IEEE 754 doubles (hex) and their canonical text.
    ("0000000000000000", "0"), ("8000000000000000", "0"), ("0000000000000001", "5e-324"),
    ("7fefffffffffffff", "1.7976931348623157e+308"), ("4340000000000000", "9007199254740992"),
    ("4430000000000000", "295147905179352830000"), ("44b52d02c7e14af5", "9.999999999999997e+22"),
    ("44b52d02c7e14af6", "1e+23"), ("444b1ae4d6e2ef50", "1e+21"), ("3eb0c6f7a0b5ed8c", "9.999999999999997e-7"),
    ("3eb0c6f7a0b5ed8d", "0.000001"), ("41b3de4355555554", "333333333.33333325"),
    ("becbf647612f3696", "-0.0000033333333333333333"), ("43143ff3c1cb0959", "1424953923781206.2"),
])
def test_canonical_numbers_are_rfc_8785s(ieee, text):
    assert canonical(struct.unpack(">d", bytes.fromhex(ieee))[0]) == text.encode()


def test_canonical_refuses_what_json_cannot_carry_exactly():
    for value in (float("nan"), 2 ** 53):
        with pytest.raises(ValueError):
            canonical(value)


# --- keys ---------------------------------------------------------------------------------------

def test_keys_from_the_environment_sign_and_the_published_keys_verify():
    keys, old = new_keys(), new_keys()
    retired = base64.b64encode(old.current.public_key().public_bytes_raw()).decode()
    loaded = AuditKeys.from_env({"AUDIT_SIGNING_KEY": b64_private(keys), "AUDIT_RETIRED_PUBLIC_KEYS": f" {retired},"})
    raw = keys.current.public_key().public_bytes_raw()
    assert loaded.current_key_id == "ed25519:" + hashlib.sha256(raw).hexdigest()[:16]
    signature = loaded.sign(b"data")
    assert signature["algorithm"] == "Ed25519" and signature["key_id"] == loaded.current_key_id
    keys.current.public_key().verify(base64.b64decode(signature["value"]), b"data")  # raises if not
    published = loaded.public_keys()
    assert [(k["key_id"], k["current"]) for k in published] == [(loaded.current_key_id, True),
                                                                 (old.current_key_id, False)]
    assert published[0]["public_key"] == base64.b64encode(raw).decode()
    assert published[0]["public_key_pem"].startswith("-----BEGIN PUBLIC KEY-----")
    assert set(keyring(json.dumps({"keys": published}))) == {loaded.current_key_id, old.current_key_id}
    assert set(keyring(published[1]["public_key_pem"])) == {old.current_key_id}


@pytest.mark.parametrize("environ, complaint", [
    ({}, "AUDIT_SIGNING_KEY is required"),
    ({"AUDIT_SIGNING_KEY": "not base64!"}, "not the base64 of a 32-byte"),
    ({"AUDIT_SIGNING_KEY": base64.b64encode(b"short").decode()}, "not the base64 of a 32-byte"),
    ({"AUDIT_SIGNING_KEY": base64.b64encode(os.urandom(32)).decode(), "AUDIT_RETIRED_PUBLIC_KEYS": "AAAA"},
     "AUDIT_RETIRED_PUBLIC_KEYS: item 1"),
])
def test_a_missing_or_malformed_key_is_refused_with_a_clear_message(environ, complaint):
    with pytest.raises(RuntimeError, match=complaint):
        AuditKeys.from_env(environ)


def test_installation_secrets_include_a_usable_signing_key():
    assert AuditKeys.from_env(generate()).current_key_id.startswith("ed25519:")


def test_a_keys_document_does_not_choose_its_own_key_ids():
    keys = new_keys()
    [entry] = keys.public_keys()
    ring = keyring({"keys": [{**entry, "key_id": "ed25519:0000000000000000"}]})
    assert list(ring) == [keys.current_key_id]
    other = new_keys().public_keys()[0]
    with pytest.raises(ValueError, match="different keys"):
        keyring({"keys": [{**entry, "public_key_pem": other["public_key_pem"]}]})


# --- bundles ------------------------------------------------------------------------------------

def test_a_sealed_bundle_checks_clean_even_after_reserialization():
    keys = new_keys()
    bundle = seal_bundle(body(), keys)
    assert bundle["format"] == "casetrail-audit-bundle/1"
    assert set(bundle["digests"]) == {"case_id", "case_number", "exported_at", "exported_by", "verification",
                                      "state", "head_hash", "format", *(f"history[{i}]" for i in range(5))}
    assert bundle["digests"]["state"] == hashlib.sha256(canonical(bundle["state"])).hexdigest()
    assert check_bundle(bundle, ring_of(keys)) == []
    indented = json.loads(json.dumps(bundle, indent=3, ensure_ascii=False))
    assert check_bundle(indented, ring_of(keys)) == []


def parts_named(problems: list[str]) -> list[str]:
    return [p for p in problems if " was " in p]


def test_an_edited_state_is_named():
    keys = new_keys()
    bundle = seal_bundle(body(), keys)
    bundle["state"]["stage"] = "closed"
    problems = check_bundle(bundle, ring_of(keys))
    assert problems[0] == "the signature does not verify"
    assert parts_named(problems) == ["state was changed"]


def test_an_edited_history_item_is_named_with_its_sequence():
    keys = new_keys()
    bundle = seal_bundle(body(), keys)
    bundle["history"][3]["actor"]["username"] = "someone-else"
    problems = check_bundle(bundle, ring_of(keys))
    assert "the signature does not verify" in problems
    assert parts_named(problems) == ["history[3] (sequence 4) was changed"]


def test_a_removed_history_item_is_named_and_the_chain_gap_shown():
    keys = new_keys()
    bundle = seal_bundle(body(), keys)
    del bundle["history"][2]
    problems = check_bundle(bundle, ring_of(keys))
    assert parts_named(problems) == ["history[2] was removed (it followed sequence 2)"]
    assert "history[2] (sequence 4) does not follow sequence 2: sequence 3 is missing" in problems
    assert ("history[2] (sequence 4) does not link to the item before it: its prev_hash is not sequence 2's hash"
            in problems)


def test_an_added_field_and_a_removed_one_are_named():
    keys = new_keys()
    bundle = seal_bundle(body(), keys)
    del bundle["exported_by"]
    bundle["comment"] = "nothing to see"
    assert parts_named(check_bundle(bundle, ring_of(keys))) == ["exported_by was removed", "comment was added"]


def test_a_swapped_signature_is_named_as_the_seal_itself_altered():
    keys = new_keys()
    bundle = seal_bundle(body(), keys)
    bundle["signature"] = seal_bundle({**body(), "exported_by": "auditor2"}, keys)["signature"]
    [problem] = check_bundle(bundle, ring_of(keys))
    assert problem.startswith("the signature does not verify, though every part matches its digest")
    assert "the digests or the signature block itself was altered" in problem


def test_an_edit_that_recomputes_its_digest_is_still_caught_by_the_signature():
    keys = new_keys()
    bundle = seal_bundle(body(), keys)
    bundle["state"]["risk_level"] = "low"
    bundle["digests"]["state"] = hashlib.sha256(canonical(bundle["state"])).hexdigest()
    [problem] = check_bundle(bundle, ring_of(keys))
    assert "the digests or the signature block itself was altered" in problem


def test_a_bundle_signed_by_an_unknown_key_is_invalid():
    keys, stranger = new_keys(), new_keys()
    problems = check_bundle(seal_bundle(body(), stranger), ring_of(keys))
    assert problems == [f"signed by unknown key '{stranger.current_key_id}': not among the keys given"]


def test_the_chain_must_hold_offline_and_end_at_the_head():
    keys = new_keys()
    tampered = body()
    tampered["history"][0]["prev_hash"] = "1" * 64
    tampered["head_hash"] = "2" * 64
    problems = check_bundle(seal_bundle(tampered, keys), ring_of(keys))
    assert problems == [
        "history[0] (sequence 1) starts the chain, but its prev_hash is not the genesis hash (64 zeros)",
        "head_hash is not the hash of the last history item (sequence 5), though the verification says the chain held"]
    # A history that starts later (an excerpt) links to whatever came before it.
    excerpt = body()
    excerpt["history"] = excerpt["history"][2:]
    assert check_bundle(seal_bundle(excerpt, keys), ring_of(keys)) == []


SECRETS = "CASES_CIPHER_KEY=abc\n# a comment\nJWT_SECRET=xyz\nAUDIT_SIGNING_KEY={key}\nADMIN_PASSWORD=pw\n"


def test_rotation_retires_the_key_and_old_bundles_keep_verifying(tmp_path):
    first = new_keys()
    secrets_file = tmp_path / "secrets.env"
    secrets_file.write_text(SECRETS.format(key=b64_private(first)))
    secrets_file.chmod(0o600)
    old_bundle = seal_bundle(body(), first)

    rotation = rotate_key(secrets_file)

    lines = secrets_file.read_text().splitlines()
    settings = dict(line.split("=", 1) for line in lines if "=" in line)
    after = AuditKeys.from_env(settings)
    assert rotation.retired_key_id == first.current_key_id and rotation.current_key_id == after.current_key_id
    assert after.current_key_id != first.current_key_id
    assert [key_id(k) for k in after.retired] == [first.current_key_id]
    assert lines[:3] == ["CASES_CIPHER_KEY=abc", "# a comment", "JWT_SECRET=xyz"] and "ADMIN_PASSWORD=pw" in lines
    assert stat.S_IMODE(secrets_file.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["secrets.env"]  # no temp file left behind
    published = keyring({"keys": after.public_keys()})
    assert check_bundle(old_bundle, published) == []
    assert check_bundle(seal_bundle(body(), after), published) == []

    rotate_key(secrets_file)  # a second rotation keeps both retired keys
    again = AuditKeys.from_env(dict(line.split("=", 1) for line in secrets_file.read_text().splitlines()
                                    if "=" in line and not line.startswith("#")))
    assert [key_id(k) for k in again.retired] == [first.current_key_id, after.current_key_id]


def test_rotation_refuses_a_file_without_a_signing_key(tmp_path):
    secrets_file = tmp_path / "secrets.env"
    secrets_file.write_text("JWT_SECRET=xyz\n")
    with pytest.raises(RuntimeError, match="AUDIT_SIGNING_KEY"):
        rotate_key(secrets_file)
    assert secrets_file.read_text() == "JWT_SECRET=xyz\n"


def test_verify_bundle_command_exit_codes(tmp_path):
    keys = new_keys()
    keys_file = tmp_path / "keys.json"
    keys_file.write_text(json.dumps({"keys": keys.public_keys()}))
    good = tmp_path / "bundle.json"
    good.write_text(json.dumps(seal_bundle(body(), keys), indent=2))
    bad_bundle = seal_bundle(body(), keys)
    bad_bundle["state"]["stage"] = "closed"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(bad_bundle))
    (tmp_path / "not.json").write_text("{not json")
    (tmp_path / "nan.json").write_text('{"state": NaN}')
    (tmp_path / "empty-keys.json").write_text('{"keys": []}')

    def run(bundle_name, keys_name="keys.json"):
        out, err = io.StringIO(), io.StringIO()
        code = verify_bundle_command(tmp_path / bundle_name, tmp_path / keys_name, out, err)
        return code, out.getvalue(), err.getvalue()

    assert run("bundle.json") == (0, "valid\n", "")
    code, out, _ = run("bad.json")
    assert code == 1 and "state was changed" in out.splitlines()
    for unusable, says in [("missing.json", "cannot read the bundle"), ("not.json", "is not JSON"),
                           ("nan.json", "is not JSON")]:
        code, out, err = run(unusable)
        assert (code, out) == (2, "") and says in err, unusable
    assert run("bundle.json", "empty-keys.json")[0::2] == (2, f"verify-bundle: the keys file "
                                                              f"{tmp_path / 'empty-keys.json'} holds no keys\n")
    assert run("bundle.json", "not.json")[0] == 2


def test_verify_bundle_notes_a_chain_that_was_already_broken_at_export(tmp_path):
    keys = new_keys()
    broken = body()
    broken["verification"] = {"valid": False, "events": 5, "head_hash": broken["head_hash"], "first_bad_sequence": 3}
    (tmp_path / "b.json").write_text(json.dumps(seal_bundle(broken, keys)))
    (tmp_path / "k.pem").write_text(keys.public_keys()[0]["public_key_pem"])
    out = io.StringIO()
    assert verify_bundle_command(tmp_path / "b.json", tmp_path / "k.pem", out) == 0
    assert out.getvalue().splitlines() == [
        "valid", "note: the export's own verification found the chain broken (first bad sequence 3)"]


# --- Merkle root: RFC 6962 --------------------------------------------------------------------

def leaf(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def test_merkle_root_follows_rfc_6962_by_hand():
    a, b, c, d, e = b"a", b"b", b"c", b"d", b"e"
    assert merkle_root([]) == hashlib.sha256(b"").hexdigest()
    assert merkle_root([a]) == leaf(a).hex()
    assert merkle_root([a, b]) == node(leaf(a), leaf(b)).hex()
    # RFC 6962: split at the largest power of two below n; the odd one out is not duplicated.
    assert merkle_root([a, b, c]) == node(node(leaf(a), leaf(b)), leaf(c)).hex()
    assert merkle_root([a, b, c, d, e]) == node(node(node(leaf(a), leaf(b)), node(leaf(c), leaf(d))), leaf(e)).hex()


def test_merkle_root_matches_certificate_transparency_test_vectors():
    leaves = [b"", b"\x00", b"\x10", b"\x20\x21", b"\x30\x31", b"\x40\x41\x42\x43", bytes(range(0x50, 0x58)),
              bytes(range(0x60, 0x70))]
    assert merkle_root(leaves[:1]) == "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
    assert merkle_root(leaves[:3]) == "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77"
    assert merkle_root(leaves[:7]) == "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c"
    assert merkle_root(leaves) == "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"


# --- checkpoints --------------------------------------------------------------------------------

HEADS = [{"chain_id": "c", "sequence": 2, "hash": "c2"}, {"chain_id": "a", "sequence": 3, "hash": "a3"},
         {"chain_id": "b", "sequence": 5, "hash": "b5"}, {"chain_id": "d", "sequence": 4, "hash": "d4"}]


def test_a_checkpoint_holds_every_head_sorted_under_a_signed_root():
    keys = new_keys()
    checkpoint = make_checkpoint(HEADS, keys, NOW.astimezone(timezone(timedelta(hours=3))))
    assert checkpoint["format"] == "casetrail-audit-checkpoint/1"
    assert checkpoint["created_at"] == "2025-03-01T12:00:00.123456Z"
    assert [h["chain_id"] for h in checkpoint["heads"]] == ["a", "b", "c", "d"]
    assert (checkpoint["chains"], checkpoint["events"]) == (4, 14)
    leaves = [leaf(canonical(head)) for head in sorted(HEADS, key=lambda head: head["chain_id"])]
    assert checkpoint["merkle_root"] == node(node(leaves[0], leaves[1]), node(leaves[2], leaves[3])).hex()
    assert attestation.checkpoint_problems(checkpoint, ring_of(keys)) == []


def test_writing_a_checkpoint_never_overwrites(tmp_path):
    checkpoint = make_checkpoint(HEADS, new_keys(), NOW)
    path = write_checkpoint(tmp_path, checkpoint)
    assert path.name == f"checkpoint-20250301T120000123456Z-{checkpoint['merkle_root'][:12]}.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o444
    written = path.read_bytes()
    assert json.loads(written) == checkpoint
    with pytest.raises(FileExistsError):
        write_checkpoint(tmp_path, {**checkpoint, "heads": []})  # same name, other content
    assert path.read_bytes() == written and len(list(tmp_path.iterdir())) == 1


def test_latest_checkpoint_is_the_newest_that_holds(tmp_path):
    keys = new_keys()
    assert latest_checkpoint(tmp_path, ring_of(keys)) is None
    write_checkpoint(tmp_path, make_checkpoint(HEADS, keys, NOW))
    newer = make_checkpoint(HEADS[:2], keys, NOW + timedelta(hours=1))
    write_checkpoint(tmp_path, newer)
    (tmp_path / "README").write_text("not a checkpoint")
    assert latest_checkpoint(tmp_path, ring_of(keys)) == newer


def tamper(path, change) -> None:
    checkpoint = json.loads(path.read_text())
    change(checkpoint)
    path.chmod(0o644)
    path.write_text(json.dumps(checkpoint))


def rehash(checkpoint: dict) -> None:
    checkpoint["heads"][0]["hash"] = "f" * 64
    checkpoint["merkle_root"] = merkle_root([canonical(head) for head in checkpoint["heads"]])


@pytest.mark.parametrize("change, says", [
    (lambda c: c["heads"][0].update(hash="f" * 64), "its merkle_root is not the root of its heads"),
    (rehash, "the signature does not verify"),
    (lambda c: c.update(signature=None), "there is no signature"),
])
def test_latest_checkpoint_refuses_a_tampered_file_instead_of_an_older_one(tmp_path, change, says):
    keys = new_keys()
    write_checkpoint(tmp_path, make_checkpoint(HEADS, keys, NOW))
    newest = write_checkpoint(tmp_path, make_checkpoint(HEADS, keys, NOW + timedelta(hours=1)))
    tamper(newest, change)
    with pytest.raises(CheckpointInvalid) as refused:
        latest_checkpoint(tmp_path, ring_of(keys))
    assert refused.value.path == newest and str(newest) in str(refused.value) and says in refused.value.problems


def test_latest_checkpoint_refuses_an_old_checkpoint_renamed_as_newer_and_a_foreign_key(tmp_path):
    keys = new_keys()
    old = write_checkpoint(tmp_path, make_checkpoint(HEADS, keys, NOW))
    renamed = old.rename(tmp_path / old.name.replace("20250301T12", "20250301T13"))
    with pytest.raises(CheckpointInvalid, match="renamed"):
        latest_checkpoint(tmp_path, ring_of(keys))
    renamed.unlink()
    write_checkpoint(tmp_path, make_checkpoint(HEADS, new_keys(), NOW))
    with pytest.raises(CheckpointInvalid, match="unknown key"):
        latest_checkpoint(tmp_path, ring_of(keys))


def test_comparing_with_a_checkpoint_finds_removed_shortened_and_rewritten_chains():
    checkpoint = make_checkpoint(HEADS, new_keys(), NOW)
    links = {("a", 3): "a3", ("e", 1): "e1"}
    asked = []

    def hash_at(chain_id, sequence):
        asked.append((chain_id, sequence))
        return links.get((chain_id, sequence))

    current = {"a": (6, "a6"),   # grew since, link 3 intact: fine
               "b": (4, "b4"),   # cut back below the checkpoint
               "d": (4, "dX"),   # same length, other head: rewritten
               "e": (1, "e1")}   # begun since: not the checkpoint's business
    assert compare_with_checkpoint(checkpoint, current, hash_at) == {
        "b": "shortened below the checkpoint (sequence 4 < 5)",
        "c": "removed",
        "d": "rewritten (link 4 no longer has the checkpoint's hash)"}
    assert asked == [("a", 3)]
    links[("a", 3)] = "a3-rewritten"
    assert compare_with_checkpoint(checkpoint, {**current, "b": (5, "b5"), "c": (2, "c2"), "d": (4, "d4")},
                                   hash_at) == {"a": "rewritten (link 3 no longer has the checkpoint's hash)"}
