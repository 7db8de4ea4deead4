"""Settings: development generates keys once; production refuses weak or missing ones."""

import base64
import stat

import pytest

from common.config import ConfigError, load_settings

STRONG_KEY = base64.b64encode(bytes(range(32))).decode()


def test_development_generates_keys_once_with_mode_0600(tmp_path, monkeypatch):
    monkeypatch.delenv("JWT_SECRET_KEY", raising=False)
    monkeypatch.delenv("KPS_MASTER_KEY", raising=False)
    first = load_settings({"KPS_DATA_DIR": str(tmp_path)})
    second = load_settings({"KPS_DATA_DIR": str(tmp_path)})
    assert first.jwt_secret_key == second.jwt_secret_key and first.master_key == second.master_key
    for name in ("jwt_secret.key", "master.key"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600


@pytest.mark.parametrize("overrides, message", [
    ({"KPS_MASTER_KEY": STRONG_KEY}, "JWT_SECRET_KEY is required"),
    ({"JWT_SECRET_KEY": "short", "KPS_MASTER_KEY": STRONG_KEY}, "at least 32 bytes"),
    ({"JWT_SECRET_KEY": "k" * 40}, "KPS_MASTER_KEY"),
    ({"JWT_SECRET_KEY": "k" * 40, "KPS_MASTER_KEY": base64.b64encode(b"\0" * 32).decode()}, "too weak"),
    ({"JWT_SECRET_KEY": "k" * 40, "KPS_MASTER_KEY": "bm90IDMyIGJ5dGVz"}, "32 bytes"),
])
def test_production_refuses_missing_or_weak_keys(tmp_path, monkeypatch, overrides, message):
    monkeypatch.delenv("JWT_SECRET_KEY", raising=False)
    monkeypatch.delenv("KPS_MASTER_KEY", raising=False)
    with pytest.raises(ConfigError, match=message):
        load_settings({"KPS_ENV": "production", "KPS_DATA_DIR": str(tmp_path), **overrides})
    assert not (tmp_path / "master.key").exists()


def test_settings_repr_hides_keys(tmp_path):
    settings = load_settings({"KPS_DATA_DIR": str(tmp_path), "JWT_SECRET_KEY": "visible-if-leaked-" * 3,
                              "KPS_MASTER_KEY": STRONG_KEY})
    assert "visible-if-leaked" not in repr(settings) and STRONG_KEY not in repr(settings)


def test_production_refuses_custom_endpoints_unless_allowed(tmp_path):
    base = {"KPS_ENV": "production", "KPS_DATA_DIR": str(tmp_path), "JWT_SECRET_KEY": "k" * 40,
            "KPS_MASTER_KEY": STRONG_KEY}
    assert load_settings(base).allow_custom_endpoints is False
    assert load_settings({**base, "KPS_ALLOW_CUSTOM_ENDPOINTS": "true"}).allow_custom_endpoints is True
