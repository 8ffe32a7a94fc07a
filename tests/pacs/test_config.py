"""DICOMweb settings from the environment; secrets never in repr, str or errors."""
from __future__ import annotations

import pytest

from modic_core.errors import InputError
from modic_core.pacs import DicomwebConfig, dicomweb_config
from modic_core.pacs.config import public_url

ENV = ("MODIC_DICOMWEB_URL", "MODIC_DICOMWEB_USER", "MODIC_DICOMWEB_PASSWORD", "MODIC_DICOMWEB_TOKEN",
       "MODIC_DICOMWEB_VERIFY", "MODIC_DICOMWEB_TIMEOUT_S", "MODIC_DICOMWEB_RETRIES")


@pytest.fixture(autouse=True)
def _no_env(monkeypatch):
    for name in ENV:
        monkeypatch.delenv(name, raising=False)


def test_unset_url_means_no_pacs():
    assert dicomweb_config() is None


def test_read_from_the_environment_at_call_time(monkeypatch, tmp_path):
    monkeypatch.setenv("MODIC_DICOMWEB_URL", "https://pacs.example.org/dicom-web")
    assert dicomweb_config() == DicomwebConfig(url="https://pacs.example.org/dicom-web")
    ca = tmp_path / "ca.pem"
    for name, value in (("MODIC_DICOMWEB_USER", "reader"), ("MODIC_DICOMWEB_PASSWORD", "pw-123"),
                        ("MODIC_DICOMWEB_TOKEN", "tok-456"), ("MODIC_DICOMWEB_VERIFY", str(ca)),
                        ("MODIC_DICOMWEB_TIMEOUT_S", "7.5"), ("MODIC_DICOMWEB_RETRIES", "0")):
        monkeypatch.setenv(name, value)
    config = dicomweb_config()
    assert (config.username, config.password, config.token, config.verify, config.timeout_s, config.retries) == (
        "reader", "pw-123", "tok-456", str(ca), 7.5, 0)
    monkeypatch.setenv("MODIC_DICOMWEB_VERIFY", "false")
    assert dicomweb_config().verify is False
    monkeypatch.setenv("MODIC_DICOMWEB_VERIFY", "TRUE")
    assert dicomweb_config().verify is True


@pytest.mark.parametrize(("name", "value"), [("MODIC_DICOMWEB_URL", "ftp://pacs/dicom-web"),
                                             ("MODIC_DICOMWEB_URL", "pacs.example.org"),
                                             ("MODIC_DICOMWEB_RETRIES", "two"),
                                             ("MODIC_DICOMWEB_RETRIES", "-1")])
def test_bad_values_are_refused_in_a_sentence(monkeypatch, name, value):
    monkeypatch.setenv("MODIC_DICOMWEB_URL", "http://pacs:8042/dicom-web")
    monkeypatch.setenv(name, value)
    with pytest.raises(InputError, match="DICOMWEB|DICOMweb"):
        dicomweb_config()


def test_secrets_never_in_repr_or_str():
    config = DicomwebConfig(url="https://user:urlpass@pacs.example.org:8443/dw?key=urlsecret", username="reader",
                            password="pw-123", token="tok-456")
    for text in (repr(config), str(config), f"{config}"):
        for secret in ("pw-123", "tok-456", "urlpass", "urlsecret"):
            assert secret not in text
    assert "password='***'" in repr(config) and "https://pacs.example.org:8443/dw" in repr(config)
    assert public_url("http://a:b@[::1]:8042/dicom-web?x=1#f") == "http://[::1]:8042/dicom-web"


def test_a_given_url_takes_the_environment_sign_in(monkeypatch):
    monkeypatch.setenv("MODIC_DICOMWEB_USER", "reader")
    monkeypatch.setenv("MODIC_DICOMWEB_PASSWORD", "pw-123")
    config = dicomweb_config("http://other:8042/dicom-web")
    assert (config.url, config.username, config.password) == ("http://other:8042/dicom-web", "reader", "pw-123")
