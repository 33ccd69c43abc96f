"""The backend rule: the paid API is used only when asked for explicitly."""

from __future__ import annotations

import pytest
from pydantic import SecretStr, ValidationError

from jina_clip import JinaCLIPSettings


def test_default_is_local_even_with_key_in_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JINA_API_KEY", "jina_env_key")
    settings = JinaCLIPSettings()
    assert settings.api_key is not None
    assert settings.api_key.get_secret_value() == "jina_env_key"
    assert settings.resolved_backend() == "local"


def test_jinaai_api_key_fallback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("JINA_API_KEY", raising=False)
    monkeypatch.setenv("JINAAI_API_KEY", "jina_other")
    assert JinaCLIPSettings().api_key == SecretStr("jina_other")


def test_explicit_key_or_base_url_selects_api(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("JINA_API_KEY", raising=False)
    assert JinaCLIPSettings(api_key="jina_x").resolved_backend() == "api"
    assert JinaCLIPSettings(base_url="http://127.0.0.1:9/v1").resolved_backend() == "api"
    assert JinaCLIPSettings(api_key="jina_x", backend="local").resolved_backend() == "local"
    assert JinaCLIPSettings(backend="api").resolved_backend() == "api"


def test_key_hidden_everywhere() -> None:
    settings = JinaCLIPSettings(api_key="jina_secret_value")
    assert "jina_secret_value" not in repr(settings)
    assert "jina_secret_value" not in str(settings)
    assert "jina_secret_value" not in settings.model_dump_json()


def test_validation() -> None:
    with pytest.raises(ValidationError):
        JinaCLIPSettings(batch_size=0)
    with pytest.raises(ValidationError):
        JinaCLIPSettings(backend="cloud")  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        JinaCLIPSettings(unknown_field=1)  # type: ignore[call-arg]


def test_encoder_kwargs_split_by_backend() -> None:
    local = JinaCLIPSettings(device="cpu", dtype="float32").encoder_kwargs()
    assert local["device"] == "cpu" and "api_key" not in local
    api = JinaCLIPSettings(backend="api", api_key="jina_x", timeout=5).encoder_kwargs()
    assert api["timeout"] == 5 and "device" not in api


def test_max_length_is_refused_for_the_api_backend() -> None:
    with pytest.raises(ValidationError, match="max_length applies to the local model only"):
        JinaCLIPSettings(backend="api", max_length=512)
    with pytest.raises(ValidationError):
        JinaCLIPSettings(base_url="http://127.0.0.1:9/v1", max_length=512)
    assert JinaCLIPSettings(max_length=512).max_length == 512


def test_dump_never_holds_the_key_and_reloads_to_the_same_backend(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A dump leaves the key out (not even masked: a masked key read back used to switch a
    local object to the API with the key ``**********``) and records the resolved backend."""
    monkeypatch.setenv("JINA_API_KEY", "jina_env_key")
    api = JinaCLIPSettings(api_key="jina_secret_value", model="jina-clip-v1")
    local = JinaCLIPSettings(model="/models/clip")  # the env key alone never means the API
    for settings, backend in ((api, "api"), (local, "local")):
        dumped = settings.model_dump_json()
        assert "api_key" not in dumped and "jina_secret_value" not in dumped
        assert "api_key" not in settings.model_dump()
        again = JinaCLIPSettings.model_validate_json(dumped)
        assert again.resolved_backend() == backend
        assert again.api_key == SecretStr("jina_env_key")  # from the environment, as documented
        assert again.model_dump() == settings.model_dump()
