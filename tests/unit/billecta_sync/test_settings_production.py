"""Production mode (the default): start-up refuses what would run insecurely, each time with one message
naming the setting; development mode accepts the public development values `make run` uses."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest
import yaml

from billecta_sync.settings import ENV_SETTINGS, ConfigError, InvalidBillectaApiConfig, load_settings
from billecta_sync.settings_production import DEVELOPMENT_FLOWER_BASIC_AUTH, MIN_PRODUCTION_KEY_BYTES
from devstack.stack import Stack, StackConfig

ROOT = Path(__file__).resolve().parents[3]
WEBHOOK_KEY = "wh_" + secrets.token_urlsafe(32)
COMMANDS_KEY = "cm_" + secrets.token_urlsafe(32)
OPERATOR_KEY = "op_" + secrets.token_urlsafe(32)
LIME_KEY = "lime-" + secrets.token_hex(16)
LIME_WEBHOOK_SECRET = secrets.token_urlsafe(32)
FLOWER_LOGIN = "ops:" + secrets.token_urlsafe(24)
SECRETS = (WEBHOOK_KEY, COMMANDS_KEY, OPERATOR_KEY, LIME_KEY, LIME_WEBHOOK_SECRET, FLOWER_LOGIN)

# The values `make run` (devstack), docker-compose's sandbox trial and the README use.
DEVELOPMENT_VALUES = {
    "BILLECTA_API_BASE_URL": "http://127.0.0.1:8100/v1",
    "BILLECTA_API_AUTHENTICATION": "SecureToken ZGV2LWJpbGxlY3RhLXRva2Vu",
    "LIME_BASE_URL": "http://127.0.0.1:8200/lime/api/v1/",
    "LIME_API_KEY": "dev-lime-key",
    "LIME_WEBHOOK_SECRET": "dev-lime-webhook-secret",
    "GATEWAY_API_KEYS_WEBHOOK": "dev-webhook-key",
    "GATEWAY_API_KEYS_COMMANDS": "dev-commands-key",
    "GATEWAY_API_KEYS_OPERATOR": "dev-operator-key",
    "FLOWER_BASIC_AUTH": DEVELOPMENT_FLOWER_BASIC_AUTH,
}


def production_env(**overrides: str) -> dict[str, str]:
    """A complete production configuration; BILLECTA_SYNC_ENV is left out: production is the default."""
    env = {
        "BILLECTA_API_BASE_URL": "https://apitest.billecta.com/v1",
        "BILLECTA_API_AUTHENTICATION": "SecureToken " + secrets.token_urlsafe(24),
        "LIME_BASE_URL": "https://acme.lime-crm.com/acme/api/v1/",
        "LIME_API_KEY": LIME_KEY,
        "LIME_WEBHOOK_SECRET": LIME_WEBHOOK_SECRET,
        "GATEWAY_API_KEYS_WEBHOOK": WEBHOOK_KEY,
        "GATEWAY_API_KEYS_COMMANDS": COMMANDS_KEY,
        "GATEWAY_API_KEYS_OPERATOR": OPERATOR_KEY,
        "FLOWER_BASIC_AUTH": FLOWER_LOGIN,
        "GATEWAY_SESSION_SECRET": secrets.token_urlsafe(32),
        "DATABASE_URL": "postgresql+psycopg://billecta:" + secrets.token_hex(16) + "@db:5432/billecta_sync",
    }
    env.update(overrides)
    return env


def refusal(env: dict[str, str], error: type[ConfigError] = ConfigError) -> str:
    with pytest.raises(error) as raised:
        load_settings(env=env)
    message = str(raised.value)
    for secret in SECRETS:
        assert secret not in message, "a refusal must not repeat a secret"
    return message


def test_a_complete_production_configuration_loads_and_production_is_the_default() -> None:
    settings = load_settings(env=production_env())

    assert settings.environment == "production" and settings.production
    assert [k.get() for k in settings.api_keys("webhook")] == [WEBHOOK_KEY]
    assert [login.get() for login in settings.flower.basic_auth] == [FLOWER_LOGIN]
    assert FLOWER_LOGIN not in repr(settings)


@pytest.mark.parametrize("name", ["GATEWAY_API_KEYS_WEBHOOK", "GATEWAY_API_KEYS_COMMANDS",
                                  "GATEWAY_API_KEYS_OPERATOR"])
def test_development_gateway_key_is_refused_naming_the_setting(name: str) -> None:
    message = refusal(production_env(**{name: DEVELOPMENT_VALUES[name]}))

    assert message.startswith(f"setting {name}: key 1 of 1 is a development key")
    assert "BILLECTA_SYNC_ENV=development" in message


@pytest.mark.parametrize(("name", "value", "error"), [
    ("BILLECTA_API_AUTHENTICATION", "SecureToken ZGV2LWJpbGxlY3RhLXRva2Vu", InvalidBillectaApiConfig),
    ("LIME_API_KEY", "dev-lime-key", ConfigError),
    ("LIME_WEBHOOK_SECRET", "dev-lime-webhook-secret", ConfigError),
    ("FLOWER_BASIC_AUTH", DEVELOPMENT_FLOWER_BASIC_AUTH, ConfigError),
    ("DATABASE_URL", "postgresql+psycopg://billecta:billecta@postgres:5432/billecta_sync", ConfigError),
    ("LIME_API_KEY", "replace-me", ConfigError),  # a placeholder of deploy.env.example left in place
])
def test_development_password_or_secret_is_refused_naming_the_setting(name: str, value: str,
                                                                      error: type[ConfigError]) -> None:
    message = refusal(production_env(**{name: value}), error)

    assert message.startswith(f"setting {name}")
    assert "development" in message


def test_key_shorter_than_32_bytes_is_refused_naming_the_setting() -> None:
    short = secrets.token_hex(MIN_PRODUCTION_KEY_BYTES)[: MIN_PRODUCTION_KEY_BYTES - 1]

    message = refusal(production_env(GATEWAY_API_KEYS_OPERATOR=short))

    assert message.startswith("setting GATEWAY_API_KEYS_OPERATOR: every key must be at least 32 bytes in production")
    assert "(key 1 of 1 has 31)" in message and short not in message
    exactly = secrets.token_hex(MIN_PRODUCTION_KEY_BYTES)[:MIN_PRODUCTION_KEY_BYTES]
    assert load_settings(env=production_env(GATEWAY_API_KEYS_OPERATOR=exactly)).api_keys("operator")[0].get() == exactly


def test_http_billecta_url_is_refused_naming_the_setting() -> None:
    message = refusal(production_env(BILLECTA_API_BASE_URL="http://apitest.billecta.com/v1"), InvalidBillectaApiConfig)

    assert message.startswith("setting BILLECTA_API_BASE_URL must be an https:// URL in production")


def test_http_lime_url_is_refused_naming_the_setting() -> None:
    message = refusal(production_env(LIME_BASE_URL="http://acme.lime-crm.com/acme/api/v1/"))

    assert message.startswith("setting LIME_BASE_URL must be an https:// URL in production")


@pytest.mark.parametrize("value", [None, "", "   "])
def test_empty_lime_webhook_secret_is_refused_naming_the_setting(value: str | None) -> None:
    env = production_env()
    if value is None:
        del env["LIME_WEBHOOK_SECRET"]
    else:
        env["LIME_WEBHOOK_SECRET"] = value

    message = refusal(env)

    assert message.startswith("missing setting LIME_WEBHOOK_SECRET")


@pytest.mark.parametrize("value", [None, ""])
def test_flower_without_basic_auth_is_refused_naming_the_setting(value: str | None) -> None:
    env = production_env()
    if value is None:
        del env["FLOWER_BASIC_AUTH"]
    else:
        env["FLOWER_BASIC_AUTH"] = value

    message = refusal(env)

    assert message.startswith("missing setting FLOWER_BASIC_AUTH")
    assert "basic auth" in message


@pytest.mark.parametrize("value", ["ops", "ops:", ":secret", "ops:a-long-password, ops2:another-password"])
def test_flower_login_that_is_not_user_and_password_is_refused_in_every_mode(value: str) -> None:
    with pytest.raises(ConfigError, match="setting FLOWER_BASIC_AUTH: every login must be user:password"):
        load_settings(env={**production_env(FLOWER_BASIC_AUTH=value), "BILLECTA_SYNC_ENV": "development"})


def test_development_mode_accepts_the_development_values() -> None:
    settings = load_settings(env={**DEVELOPMENT_VALUES, "BILLECTA_SYNC_ENV": "development"})

    assert settings.environment == "development" and not settings.production
    assert settings.billecta.base_url == "http://127.0.0.1:8100/v1"
    assert [k.get() for k in settings.api_keys("commands")] == ["dev-commands-key"]
    assert [login.get() for login in settings.flower.basic_auth] == [DEVELOPMENT_FLOWER_BASIC_AUTH]


def test_development_mode_still_needs_no_webhook_secret_nor_flower_login() -> None:
    env = {k: v for k, v in DEVELOPMENT_VALUES.items() if k not in {"LIME_WEBHOOK_SECRET", "FLOWER_BASIC_AUTH"}}

    settings = load_settings(env={**env, "BILLECTA_SYNC_ENV": "development"})

    assert settings.lime.webhook_secret is None and settings.flower.basic_auth == ()


def test_the_dev_stack_starts_its_processes_in_development_mode_with_flower_behind_basic_auth() -> None:
    stack = Stack(StackConfig())
    env = stack.env()

    assert env["BILLECTA_SYNC_ENV"] == "development"
    settings = load_settings(env=env)  # what every child process (gateway, worker, beat, Flower) reads
    assert not settings.production
    flower = stack.commands()["flower"]
    assert "--address=127.0.0.1" in flower
    assert f"--basic-auth={env['FLOWER_BASIC_AUTH']}" in flower
    with pytest.raises(ConfigError):
        load_settings(env={**env, "BILLECTA_SYNC_ENV": "production"})


def test_old_and_new_key_of_one_scope_both_load_during_a_rotation() -> None:
    new_key = "wh_" + secrets.token_urlsafe(32)

    settings = load_settings(env=production_env(GATEWAY_API_KEYS_WEBHOOK=f"{WEBHOOK_KEY},{new_key}"))

    assert [k.get() for k in settings.api_keys("webhook")] == [WEBHOOK_KEY, new_key]
    message = refusal(production_env(GATEWAY_API_KEYS_WEBHOOK=f"{WEBHOOK_KEY},dev-webhook-key"))
    assert message.startswith("setting GATEWAY_API_KEYS_WEBHOOK: key 2 of 2 is a development key")


def test_two_flower_logins_load_during_a_password_change() -> None:
    second = "ops:" + secrets.token_urlsafe(24)

    settings = load_settings(env=production_env(FLOWER_BASIC_AUTH=f"{FLOWER_LOGIN},{second}"))

    assert [login.get() for login in settings.flower.basic_auth] == [FLOWER_LOGIN, second]


@pytest.mark.parametrize("value", ["development", " Development "])
def test_mode_is_read_case_insensitively(value: str) -> None:
    assert load_settings(env={**DEVELOPMENT_VALUES, "BILLECTA_SYNC_ENV": value}).environment == "development"


def test_unknown_mode_is_refused_naming_the_setting() -> None:
    with pytest.raises(ConfigError, match="setting BILLECTA_SYNC_ENV must be 'production' or 'development'"):
        load_settings(env=production_env(BILLECTA_SYNC_ENV="staging"))


def test_a_config_file_cannot_switch_production_mode_off(tmp_path: Path) -> None:
    path = tmp_path / "billecta-sync.yaml"
    path.write_text("environment: development\n", encoding="utf-8")

    with pytest.raises(ConfigError, match=r"unknown settings \['environment'\]"):
        load_settings(env=production_env(), config_file=path)


def test_a_development_key_from_the_config_file_is_refused_naming_variable_and_path(tmp_path: Path) -> None:
    path = tmp_path / "billecta-sync.yaml"
    path.write_text("gateway:\n  api_keys:\n    operator: [dev-operator-key]\n", encoding="utf-8")
    env = production_env()
    del env["GATEWAY_API_KEYS_OPERATOR"]

    message = refusal({**env, "BILLECTA_SYNC_CONFIG": str(path)})

    assert message.startswith("setting GATEWAY_API_KEYS_OPERATOR ('gateway.api_keys.operator' in the config file): "
                              "key 1 of 1 is a development key")


# -- the deployment files ----------------------------------------------------------------------------------
def example_env() -> dict[str, str]:
    lines = (ROOT / "deploy.env.example").read_text(encoding="utf-8").splitlines()
    return dict(line.split("=", 1) for line in lines if line.strip() and not line.lstrip().startswith("#"))


def test_the_example_env_file_names_only_settings_and_its_placeholders_cannot_go_live() -> None:
    example = example_env()
    known = {name for name, _path, _text in ENV_SETTINGS} | {"POSTGRES_PASSWORD"}

    assert sorted(set(example) - known) == []
    assert example["BILLECTA_SYNC_ENV"] == "production"
    with pytest.raises(ConfigError):
        load_settings(env=example)
    # Each placeholder alone stops start-up, so none can be forgotten.
    for name, value in example.items():
        if "replace-me" in value and name != "POSTGRES_PASSWORD":
            with pytest.raises(ConfigError, match=name):
                load_settings(env=production_env(**{name: value}))


def test_compose_reads_secrets_from_the_env_file_and_publishes_flower_and_sandboxes_on_localhost() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    services = compose["services"]

    for name in ("migrate", "gateway", "worker", "beat", "flower"):
        assert services[name]["env_file"] == "deploy.env"
        assert not {"GATEWAY_API_KEYS_WEBHOOK", "LIME_API_KEY", "DATABASE_URL"} & set(services[name]["environment"])
    for name in ("flower", "billecta-sandbox", "lime-sandbox"):
        assert all(port.startswith("127.0.0.1:") for port in services[name]["ports"]), name
    assert '--basic-auth="$$FLOWER_BASIC_AUTH"' in " ".join(services["flower"]["command"])
    assert "deploy.env" in (ROOT / ".gitignore").read_text(encoding="utf-8").splitlines()
