"""Start-up settings: what a complete configuration gives, and the one clear message for each mistake."""

from __future__ import annotations

from pathlib import Path

import pytest

from billecta_sync.settings import ConfigError, InvalidBillectaApiConfig, Secret, load_settings

BILLECTA_AUTH = "SecureToken c2VjcmV0LWJpbGxlY3RhLXRva2Vu"
LIME_KEY = "lime-key-7f3a9c"
WEBHOOK_KEY = "webhook-key-1b2c3d"
COMMANDS_KEY = "commands-key-4e5f6a"
OPERATOR_KEY = "operator-key-7b8c9d"
LIME_WEBHOOK_SECRET = "lime-hook-secret-0e1f"
# These tests are about reading and checking settings; production mode's refusals have their own module.
DEVELOPMENT = {"BILLECTA_SYNC_ENV": "development"}


def complete_env(**overrides: str) -> dict[str, str]:
    env = {
        **DEVELOPMENT,
        "BILLECTA_API_BASE_URL": "https://apitest.billecta.com/v1/",
        "BILLECTA_API_AUTHENTICATION": BILLECTA_AUTH,
        "LIME_BASE_URL": "https://acme.lime-crm.com/acme/api/v1",
        "LIME_API_KEY": LIME_KEY,
        "LIME_WEBHOOK_SECRET": LIME_WEBHOOK_SECRET,
        "GATEWAY_API_KEYS_WEBHOOK": WEBHOOK_KEY,
        "GATEWAY_API_KEYS_COMMANDS": f"{COMMANDS_KEY}, second-commands-key",
        "GATEWAY_API_KEYS_OPERATOR": OPERATOR_KEY,
    }
    env.update(overrides)
    return env


def without(name: str) -> dict[str, str]:
    env = complete_env()
    del env[name]
    return env


def write_yaml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "billecta-sync.yaml"
    path.write_text(text, encoding="utf-8")
    return path


MINIMAL_YAML = f"""
billecta:
  api:
    base_url: https://apitest.billecta.com/v1
    authentication: "{BILLECTA_AUTH}"
lime:
  base_url: https://acme.lime-crm.com/acme/api/v1/
  api_key: {LIME_KEY}
gateway:
  api_keys:
    webhook: [{WEBHOOK_KEY}]
    commands: [{COMMANDS_KEY}]
    operator: [{OPERATOR_KEY}]
"""


def test_complete_environment_loads_with_normalised_urls_and_defaults() -> None:
    settings = load_settings(env=complete_env())

    assert settings.billecta.base_url == "https://apitest.billecta.com/v1"
    assert settings.billecta.authentication.get() == BILLECTA_AUTH
    assert settings.lime.base_url == "https://acme.lime-crm.com/acme/api/v1/"
    assert settings.lime.api_key.get() == LIME_KEY
    assert settings.lime.webhook_secret is not None and settings.lime.webhook_secret.get() == LIME_WEBHOOK_SECRET
    assert [k.get() for k in settings.api_keys("commands")] == [COMMANDS_KEY, "second-commands-key"]
    assert [k.get() for k in settings.api_keys("webhook")] == [WEBHOOK_KEY]
    assert settings.gateway.prefix == "/limepkg-billecta-integration"
    assert settings.database_url == "sqlite:///var/billecta-sync.db"
    assert settings.redis_url == "redis://127.0.0.1:6379/0"
    assert settings.worker.max_retries == 8
    assert settings.worker.retry_backoff_max_s == 600
    assert settings.log_level == "INFO"
    assert settings.source == "environment"


@pytest.mark.parametrize("name", ["BILLECTA_API_BASE_URL", "BILLECTA_API_AUTHENTICATION"])
def test_missing_billecta_setting_raises_invalid_billecta_api_config_naming_it(name: str) -> None:
    with pytest.raises(InvalidBillectaApiConfig) as raised:
        load_settings(env=without(name))
    assert name in str(raised.value)


@pytest.mark.parametrize("name", ["LIME_BASE_URL", "LIME_API_KEY", "GATEWAY_API_KEYS_WEBHOOK",
                                  "GATEWAY_API_KEYS_COMMANDS", "GATEWAY_API_KEYS_OPERATOR"])
def test_missing_required_setting_raises_config_error_naming_it(name: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load_settings(env=without(name))
    assert type(raised.value) is ConfigError
    assert name in str(raised.value)


def test_empty_environment_variable_counts_as_missing() -> None:
    with pytest.raises(ConfigError, match="LIME_API_KEY"):
        load_settings(env=complete_env(LIME_API_KEY=""))


@pytest.mark.parametrize("value", ["c2VjcmV0LWJpbGxlY3RhLXRva2Vu", "Bearer c2VjcmV0", "SecureToken", "Basic   "])
def test_authentication_without_basic_or_securetoken_prefix_is_rejected(value: str) -> None:
    with pytest.raises(InvalidBillectaApiConfig, match="BILLECTA_API_AUTHENTICATION") as raised:
        load_settings(env=complete_env(BILLECTA_API_AUTHENTICATION=value))
    assert "'Basic <base64>' or 'SecureToken <base64>'" in str(raised.value)


def test_basic_authentication_is_accepted() -> None:
    settings = load_settings(env=complete_env(BILLECTA_API_AUTHENTICATION="Basic dXNlcjpwYXNz"))
    assert settings.billecta.authentication.get() == "Basic dXNlcjpwYXNz"


def test_billecta_base_url_must_be_http() -> None:
    with pytest.raises(InvalidBillectaApiConfig, match="BILLECTA_API_BASE_URL"):
        load_settings(env=complete_env(BILLECTA_API_BASE_URL="apitest.billecta.com/v1"))


def test_number_setting_that_is_not_a_number_is_named() -> None:
    with pytest.raises(ConfigError, match="WORKER_MAX_RETRIES must be"):
        load_settings(env=complete_env(WORKER_MAX_RETRIES="many"))


def test_yaml_file_is_read(tmp_path: Path) -> None:
    path = write_yaml(tmp_path, MINIMAL_YAML + "worker:\n  max_retries: 3\nlog_level: debug\n")

    settings = load_settings(env=DEVELOPMENT, config_file=path)

    assert settings.billecta.base_url == "https://apitest.billecta.com/v1"
    assert settings.billecta.authentication.get() == BILLECTA_AUTH
    assert settings.lime.api_key.get() == LIME_KEY
    assert [k.get() for k in settings.api_keys("operator")] == [OPERATOR_KEY]
    assert settings.worker.max_retries == 3
    assert settings.log_level == "DEBUG"
    assert settings.source == f"{path} + environment"


def test_environment_overrides_the_yaml_file(tmp_path: Path) -> None:
    path = write_yaml(tmp_path, MINIMAL_YAML + "worker:\n  max_retries: 3\n")

    settings = load_settings(env={**DEVELOPMENT, "BILLECTA_SYNC_CONFIG": str(path),
                                  "LIME_API_KEY": "from-the-environment", "WORKER_MAX_RETRIES": "5"})

    assert settings.lime.api_key.get() == "from-the-environment"
    assert settings.worker.max_retries == 5
    assert settings.billecta.authentication.get() == BILLECTA_AUTH  # not overridden: the file's value


def test_missing_config_file_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.yaml"
    with pytest.raises(ConfigError, match=r"nowhere\.yaml \(BILLECTA_SYNC_CONFIG\) does not exist"):
        load_settings(env=complete_env(), config_file=missing)


def test_repr_of_settings_shows_no_secret() -> None:
    settings = load_settings(env=complete_env())

    shown = repr(settings) + str(settings)

    for secret in (BILLECTA_AUTH, "c2VjcmV0LWJpbGxlY3RhLXRva2Vu", LIME_KEY, LIME_WEBHOOK_SECRET, WEBHOOK_KEY,
                   COMMANDS_KEY, "second-commands-key", OPERATOR_KEY):
        assert secret not in shown
    assert "Secret('***')" in shown
    assert repr(Secret("hunter2-hunter2")) == "Secret('***')"
    assert f"{Secret('hunter2-hunter2')}" == "Secret('***')"


@pytest.mark.parametrize("value", ["short", f"{COMMANDS_KEY},1234567"])
def test_gateway_key_shorter_than_eight_characters_is_rejected(value: str) -> None:
    with pytest.raises(ConfigError, match="GATEWAY_API_KEYS_COMMANDS: every key must be at least 8 characters"):
        load_settings(env=complete_env(GATEWAY_API_KEYS_COMMANDS=value))


def test_visibility_timeout_not_longer_than_backoff_plus_task_limit_is_rejected() -> None:
    # 600 s backoff cap + 150 s task time limit = 750 s: Redis would redeliver a waiting retry.
    with pytest.raises(ConfigError, match="WORKER_VISIBILITY_TIMEOUT_S must exceed WORKER_RETRY_BACKOFF_MAX_S"):
        load_settings(env=complete_env(WORKER_RETRY_BACKOFF_MAX_S="600", WORKER_VISIBILITY_TIMEOUT_S="750"))
    settings = load_settings(env=complete_env(WORKER_RETRY_BACKOFF_MAX_S="600", WORKER_VISIBILITY_TIMEOUT_S="751"))
    assert settings.worker.visibility_timeout_s == 751


def test_task_time_limits_set_the_inbox_lease_lock_timeout_and_sweep_age() -> None:
    settings = load_settings(env=complete_env(WORKER_TASK_SOFT_TIME_LIMIT_S="20", WORKER_TASK_TIME_LIMIT_S="30",
                                              WORKER_RETRY_BACKOFF_MAX_S="5", WORKER_VISIBILITY_TIMEOUT_S="40",
                                              WORKER_SWEEP_INTERVAL_S="10"))
    worker = settings.worker
    assert (worker.task_soft_time_limit_s, worker.task_time_limit_s) == (20, 30)
    assert (worker.lock_timeout_s, worker.inbox_lease_s, worker.stuck_after_s) == (30, 45, 20)


def test_soft_time_limit_not_below_the_hard_one_is_rejected() -> None:
    with pytest.raises(ConfigError, match="WORKER_TASK_SOFT_TIME_LIMIT_S must be below WORKER_TASK_TIME_LIMIT_S"):
        load_settings(env=complete_env(WORKER_TASK_SOFT_TIME_LIMIT_S="150", WORKER_TASK_TIME_LIMIT_S="150"))


def test_visibility_timeout_is_checked_against_the_configured_time_limit() -> None:
    with pytest.raises(ConfigError, match="WORKER_VISIBILITY_TIMEOUT_S must exceed"):
        load_settings(env=complete_env(WORKER_TASK_TIME_LIMIT_S="3000", WORKER_TASK_SOFT_TIME_LIMIT_S="2900"))


def test_unknown_mapping_limetype_is_rejected_naming_it(tmp_path: Path) -> None:
    path = write_yaml(tmp_path, MINIMAL_YAML + "mappings:\n  customer:\n    limetype: kund\n")
    with pytest.raises(ConfigError, match="mappings") as raised:
        load_settings(env=DEVELOPMENT, config_file=path)
    assert "'customer'" in str(raised.value)


def test_unknown_mapping_property_is_rejected_naming_it(tmp_path: Path) -> None:
    path = write_yaml(tmp_path, MINIMAL_YAML + "mappings:\n  debtor:\n    properties: {shoesize: skostorlek}\n")
    with pytest.raises(ConfigError, match=r"mappings\.debtor\.properties") as raised:
        load_settings(env=DEVELOPMENT, config_file=path)
    assert "'shoesize'" in str(raised.value)


def test_unknown_key_in_a_mapping_is_rejected(tmp_path: Path) -> None:
    path = write_yaml(tmp_path, MINIMAL_YAML + "mappings:\n  debtor:\n    fields: {name: namn}\n")
    with pytest.raises(ConfigError, match=r"mappings\.debtor has unknown keys \['fields'\]"):
        load_settings(env=DEVELOPMENT, config_file=path)


def test_mapping_overrides_change_limetype_and_properties(tmp_path: Path) -> None:
    path = write_yaml(tmp_path, MINIMAL_YAML + (
        "mappings:\n"
        "  debtor:\n"
        "    limetype: customer\n"
        "    properties: {ssnregno: orgnumber, email: invoiceemail}\n"
    ))

    mappings = load_settings(env=DEVELOPMENT, config_file=path).mappings

    debtor = mappings["debtor"]
    assert debtor.limetype == "customer"
    assert debtor.prop("ssnregno") == "orgnumber"
    assert debtor.prop("email") == "invoiceemail"
    assert debtor.prop("name") == "name"  # not overridden
    assert debtor.to_lime({"ssnregno": "556677-8899", "name": "Kund AB"}) == {"orgnumber": "556677-8899",
                                                                               "name": "Kund AB"}
    assert mappings.logical_limetype_of("customer") == "debtor"
    assert mappings["order"].limetype == "order"  # other limetypes keep the defaults
