"""Config loading: ${ENV} substitution and errors that name the setting's path."""

from __future__ import annotations

from pathlib import Path

import pytest

from crmsync.config import load_config, parse_config
from crmsync.errors import ConfigError

BASE = """
store: sqlite:///{tmp}/x.db
connections:
  shop:
    type: commercetools
    project_key: my-shop
    api_url: https://api.europe-west1.gcp.commercetools.com
    auth_url: https://auth.europe-west1.gcp.commercetools.com
    client_id: ${{CTP_CLIENT_ID}}
    client_secret: ${{CTP_CLIENT_SECRET}}
  marketing:
    type: klaviyo
    api_key: ${{KLAVIYO_API_KEY}}
    base_url: ${{KLAVIYO_URL:-https://a.klaviyo.com}}
http:
  listen: 127.0.0.1:8080
  admin_token: ${{CRMSYNC_ADMIN_TOKEN}}
flows:
  - name: shop-to-klaviyo
    source: shop
    target: marketing
    entities: [customer]
"""
ENV = {
    "CTP_CLIENT_ID": "cid",
    "CTP_CLIENT_SECRET": "s3cret-value",
    "KLAVIYO_API_KEY": "pk_abc",
    "CRMSYNC_ADMIN_TOKEN": "tok",
}


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "crmsync.yaml"
    p.write_text(text.format(tmp=tmp_path), encoding="utf-8")
    return p


def test_product_md_config_loads_with_env(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, BASE), env=ENV)
    assert cfg.connections["shop"]["client_secret"] == "s3cret-value"
    assert cfg.connections["marketing"]["base_url"] == "https://a.klaviyo.com"
    assert cfg.http.admin_token is not None and cfg.http.port == 8080
    assert cfg.flow().name == "shop-to-klaviyo"
    assert "s3cret-value" not in repr(cfg.http)


def test_missing_env_var_names_the_setting(tmp_path: Path) -> None:
    env = {k: v for k, v in ENV.items() if k != "CTP_CLIENT_SECRET"}
    with pytest.raises(ConfigError, match=r"connections\.shop\.client_secret.*CTP_CLIENT_SECRET"):
        load_config(write(tmp_path, BASE), env=env)


def test_invalid_connection_setting_reports_path(tmp_path: Path) -> None:
    text = BASE.replace("    project_key: my-shop\n", "")
    with pytest.raises(ConfigError, match=r"connections\.shop\.project_key"):
        load_config(write(tmp_path, text), env=ENV)


def test_unknown_connection_type(tmp_path: Path) -> None:
    text = BASE.replace("type: klaviyo", "type: mailchimp")
    with pytest.raises(
        ConfigError, match=r"connections\.marketing\.type.*unknown connection type 'mailchimp'"
    ):
        load_config(write(tmp_path, text), env=ENV)


def test_flow_refers_to_unknown_connection(tmp_path: Path) -> None:
    text = BASE.replace("target: marketing", "target: crm")
    with pytest.raises(ConfigError, match=r"flows\[0\]\.target: unknown connection 'crm'"):
        load_config(write(tmp_path, text), env=ENV)


def test_bad_listen_and_unknown_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config({"connections": {}, "flows": [], "http": {"listen": "nope"}, "extra": 1}, env={})
    msg = str(info.value)
    assert "http.listen" in msg and "extra" in msg and "flows" in msg


def test_not_yaml_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("store: [unclosed", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)
