"""Property tests: secret-name validation and credential encryption."""

import os
import re

from hypothesis import HealthCheck, given, settings, strategies as st
from marshmallow import ValidationError

from kms.crypto import DecryptionError, Keyring
from kms.schemas import NAME_RULE, CreateSecretSchema
from models.provider_configs import ProviderConfigs

SAFE_PROVIDER_NAME = re.compile(r"^[A-Za-z0-9._-]+$")


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=140))
def test_a_name_is_accepted_exactly_when_it_matches_the_rule_and_is_path_safe(name):
    try:
        loaded = CreateSecretSchema().load({"name": name, "value": "v"})["name"]
    except ValidationError:
        assert not NAME_RULE.match(name) or not name
        return
    assert loaded == name and NAME_RULE.match(name)
    assert "/" not in name and ".." != name[:2] and SAFE_PROVIDER_NAME.match(name) and len(name) <= 128


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.dictionaries(st.text(min_size=1, max_size=20), st.text(max_size=200), min_size=1, max_size=5))
def test_credentials_round_trip_and_are_never_stored_in_plaintext(mongo_db, credentials):
    keyring = Keyring(os.urandom(32))
    configs = ProviderConfigs(mongo_db, keyring)
    configs.save("aws", {"region": "us-east-1"}, credentials, None)
    stored = mongo_db.provider_configs.find_one({"_id": "aws"})
    assert configs.get("aws").credentials == credentials
    # The values can only be in the sealed part; the rest is fixed ("us-east-1", dates...),
    # which a short generated value might happen to spell.
    assert set(stored) == {"_id", "settings", "credentials", "updated_at", "updated_by", "revision"}
    assert stored["settings"] == {"region": "us-east-1"} and stored["updated_by"] is None
    sealed = b"".join(v for v in stored["credentials"].values() if isinstance(v, bytes))  # nonce, ciphertext
    for value in credentials.values():
        if len(value) >= 4:
            assert value.encode() not in sealed


@settings(max_examples=25, deadline=None)
@given(plaintext=st.binary(max_size=512), flip=st.integers(min_value=0))
def test_any_change_to_a_sealed_value_is_detected(plaintext, flip):
    keyring = Keyring(os.urandom(32))
    sealed = keyring.seal(plaintext, b"aad")
    assert keyring.open(sealed, b"aad") == plaintext
    tampered = bytearray(sealed.ciphertext)
    tampered[flip % len(tampered)] ^= 0x01
    try:
        keyring.open(type(sealed)(sealed.kid, sealed.nonce, bytes(tampered)), b"aad")
    except DecryptionError:
        pass
    else:
        raise AssertionError("tampering was not detected")
    try:
        keyring.open(sealed, b"other-aad")
    except DecryptionError:
        return
    raise AssertionError("a different associated data was accepted")
