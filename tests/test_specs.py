"""One spec per provider, and everything that lists providers agrees with the specs: config
validation, the adapters' capabilities, the secrets scrubbed and installed, `init`'s template,
`send --at` and the README's providers table."""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from conftest import TEST_SECRET, postmark_delivery
from fakes.messages import build_provider
from seriespub.config import DeliverySettings, Settings, known_secrets, load_settings
from seriespub.errors import ConfigError
from seriespub.installers import github_workflow, secret_names
from seriespub.providers import SPECS, ProviderSpec, make_provider, scheduling_hint
from seriespub.providers.base import ProviderBase
from seriespub.series import init_series

README = Path(__file__).resolve().parent.parent / "README.md"
SERIES = '[series]\ntitle = "T"\nfrom = "Ann <ann@example.com>"\n'
NOWHERE = "http://127.0.0.1:9"  # the discard port: nothing listens, nothing is sent
ALL_SPECS = list(SPECS.values())
ids = [spec.name for spec in ALL_SPECS]


def load(tmp_path: Path, toml: str) -> Settings:
    path = tmp_path / "seriespub.toml"
    path.write_text(SERIES + toml, encoding="utf-8")
    return load_settings(path)


def settings_for(spec: ProviderSpec) -> DeliverySettings:
    """Delivery settings under which `spec`'s adapter builds, pointed at nowhere."""
    tables: dict[str, Any] = {
        "mailgun": {"domain": "mg.example.com", "api_url": NOWHERE},
        "smtp": {"host": "127.0.0.1", "port": 9},
    }
    table = tables.get(spec.name, {"api_url": NOWHERE} if spec.settings else {})
    if spec.settings is None:
        return DeliverySettings(provider=spec.name)
    return DeliverySettings(provider=spec.name, **{spec.name: spec.settings(**table)})


def secrets_for(spec: ProviderSpec) -> dict[str, str]:
    return {name: f"value-of-{name.lower()}" for name in spec.secrets}


def overrides(provider: object, method: str) -> bool:
    """Whether the adapter has its own `method`, not ProviderBase's default."""
    return getattr(type(provider), method) is not getattr(ProviderBase, method)


def no_network(request: httpx.Request) -> httpx.Response:
    raise AssertionError(f"building a provider must not reach {request.url}")


@pytest.mark.parametrize("spec", ALL_SPECS, ids=ids)
def test_every_provider_named_in_config_has_a_spec_and_loads(
    tmp_path: Path, spec: ProviderSpec
) -> None:
    settings = load(tmp_path, f'[delivery]\nprovider = "{spec.name}"\n')
    assert settings.delivery.provider == spec.name


def test_an_unknown_provider_is_refused_naming_every_spec(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"'delivery\.provider' must be one of") as caught:
        load(tmp_path, '[delivery]\nprovider = "carrier-pigeon"\n')
    assert f"one of {', '.join(SPECS)}, not 'carrier-pigeon'" in str(caught.value)
    with pytest.raises(ConfigError, match="unknown provider 'carrier-pigeon'"):
        make_provider("carrier-pigeon", None)  # type: ignore[arg-type]


def test_each_settings_table_is_the_one_its_spec_names() -> None:
    """`[delivery.<name>]` exists exactly for the providers whose spec has settings."""
    tables = {
        f.name: f.default_factory()
        for f in dataclasses.fields(DeliverySettings)
        if f.default_factory is not dataclasses.MISSING
    }
    assert {name: type(value) for name, value in tables.items()} == {
        spec.name: spec.settings for spec in ALL_SPECS if spec.settings is not None
    }


@pytest.mark.parametrize(
    ("spec", "key", "allowed"),
    [(spec, key, allowed) for spec in ALL_SPECS for key, allowed in spec.choices.items()],
    ids=lambda v: v.name if isinstance(v, ProviderSpec) else None,
)
def test_each_choice_of_a_spec_is_enforced_on_load(
    tmp_path: Path, spec: ProviderSpec, key: str, allowed: tuple[str, ...]
) -> None:
    for value in allowed:
        loaded = load(tmp_path, f'[delivery.{spec.name}]\n{key} = "{value}"\n')
        assert getattr(getattr(loaded.delivery, spec.name), key) == value
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, f'[delivery.{spec.name}]\n{key} = "bogus"\n')
    assert f"'delivery.{spec.name}.{key}' must be one of {', '.join(allowed)}" in str(caught.value)


@pytest.mark.parametrize("spec", ALL_SPECS, ids=ids)
def test_the_adapter_has_the_capabilities_its_spec_declares(
    tmp_path: Path, spec: ProviderSpec
) -> None:
    provider = build_provider(
        spec.name, settings_for(spec), secrets_for(spec), httpx.MockTransport(no_network), tmp_path
    )
    try:
        assert (
            provider.name,
            provider.max_batch,
            provider.concurrency,
            provider.can_settle,
            provider.max_schedule_ahead,
        ) == (spec.name, spec.max_batch, spec.concurrency, spec.can_settle, spec.max_schedule_ahead)
        assert overrides(provider, "settle") == spec.can_settle
        assert overrides(provider, "suppressions") == spec.syncs_suppressions
    finally:
        provider.close()


@pytest.mark.parametrize("spec", [s for s in ALL_SPECS if s.required_secrets], ids=lambda s: s.name)
def test_a_missing_required_secret_is_named(tmp_path: Path, spec: ProviderSpec) -> None:
    for missing in spec.required_secrets:
        secrets = {k: v for k, v in secrets_for(spec).items() if k != missing}
        delivery = settings_for(spec)
        if spec.name == "smtp":  # SMTP asks for its password only when it logs in
            delivery = dataclasses.replace(
                delivery, smtp=dataclasses.replace(delivery.smtp, username="mailer")
            )
        with pytest.raises(ConfigError, match=f"{missing} is not set"):
            build_provider(spec.name, delivery, secrets, httpx.MockTransport(no_network), tmp_path)


def test_every_spec_secret_is_scrubbed() -> None:
    assert set(known_secrets()) == {
        "SERIESPUB_SECRET",
        "SERIESPUB_SECRET_PREVIOUS",
        "IMAP_PASSWORD",
    } | {name for spec in ALL_SPECS for name in spec.secrets}


@pytest.mark.parametrize("spec", ALL_SPECS, ids=ids)
def test_the_workflow_passes_each_required_secret(spec: ProviderSpec) -> None:
    workflow = yaml.safe_load(github_workflow("letters", secrets=secret_names(spec.name)))
    send = next(
        step
        for step in workflow["jobs"]["send"]["steps"]
        if step.get("run") == "seriespub send due"
    )
    assert send["env"] == {
        name: f"${{{{ secrets.{name} }}}}" for name in ("SERIESPUB_SECRET", *spec.required_secrets)
    }


def _readme_rows() -> dict[str, str]:
    """The README's providers table: provider name → its row."""
    rows = {}
    for line in README.read_text(encoding="utf-8").splitlines():
        found = re.match(r"\| `([a-z]+)`", line)
        if found and found.group(1) in SPECS:
            rows[found.group(1)] = line
    return rows


def test_the_readme_table_has_a_row_per_provider() -> None:
    assert list(_readme_rows()) == list(SPECS)


@pytest.mark.parametrize("spec", ALL_SPECS, ids=ids)
def test_the_readme_row_names_every_secret_setting_and_choice(spec: ProviderSpec) -> None:
    row = _readme_rows()[spec.name]
    keys = [f.name for f in dataclasses.fields(spec.settings)] if spec.settings else []
    words = [*spec.secrets, *keys, *(v for allowed in spec.choices.values() for v in allowed)]
    assert [word for word in words if f"`{word}`" not in row] == []


def test_init_offers_every_provider(tmp_path: Path) -> None:
    init_series(tmp_path / "letters", "Letters", "Ann <ann@example.com>")
    text = (tmp_path / "letters" / "seriespub.toml").read_text(encoding="utf-8")
    assert f'provider = "outbox"   # {" | ".join(SPECS)}\n' in text


def test_the_scheduling_hint_names_exactly_the_providers_that_can_hold_a_send() -> None:
    assert scheduling_hint() == "sendgrid (3 days), mailgun (3 days), resend (30 days)"
    named = set(re.findall(r"([a-z]+) \(", scheduling_hint()))
    assert named == {s.name for s in ALL_SPECS if s.max_schedule_ahead is not None}


def _send_at(
    make_series: Callable[..., Path],
    cli: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
    spec: ProviderSpec,
) -> Any:
    """`send next --at` two months ahead, with `spec`'s provider pointed at nowhere."""
    table = {
        "mailgun": f'domain = "mg.example.com"\napi_url = "{NOWHERE}"\n',
        "smtp": 'host = "127.0.0.1"\nport = 9\n',
    }.get(spec.name, f'api_url = "{NOWHERE}"\n')
    delivery = f'[delivery]\nprovider = "{spec.name}"\n'
    if spec.settings is not None:
        delivery += f"[delivery.{spec.name}]\n{table}"
    for name, value in secrets_for(spec).items():
        monkeypatch.setenv(name, value)
    root = make_series(delivery=delivery)
    when = (dt.datetime.now() + dt.timedelta(days=60)).strftime("%Y-%m-%d %H:%M")
    return cli(root, "send", "next", "--yes", "--at", when)


@pytest.mark.parametrize("spec", ALL_SPECS, ids=ids)
def test_send_at_works_exactly_with_providers_that_can_schedule(
    make_series: Callable[..., Path],
    cli: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
    spec: ProviderSpec,
) -> None:
    result = _send_at(make_series, cli, monkeypatch, spec)
    assert result.exit_code == 1, result.output
    stderr = " ".join(result.stderr.split())
    if spec.max_schedule_ahead is None:
        assert f"the {spec.name} provider cannot hold messages until a time" in stderr
    else:
        assert "too far ahead" in stderr
        from seriespub.providers.spec import describe_ahead

        assert (
            f"{spec.name} holds messages for at most {describe_ahead(spec.max_schedule_ahead)}"
        ) in stderr


def test_the_send_at_refusal_hints_at_the_providers_from_the_specs(
    make_series: Callable[..., Path], cli: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    result = _send_at(make_series, cli, monkeypatch, SPECS["outbox"])
    assert f"providers that can: {scheduling_hint()};" in " ".join(result.stderr.split())


def test_reading_the_specs_imports_no_adapter() -> None:
    """Config validation and the registry stay cheap: no httpx, no botocore, no adapter,
    not even the message machinery."""
    code = (
        "import sys, seriespub.config, seriespub.providers as p; "
        "p.provider_spec('ses'); seriespub.config.known_secrets(); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('httpx', 'botocore') "
        "or m == 'seriespub.message' or m in ('seriespub.providers.' + n for n in p.SPECS)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


def test_building_an_http_provider_leaves_httpxs_own_command_line_tool_unloaded(
    make_series: Callable[..., Path],
) -> None:
    """httpx imports its CLI (click, rich.syntax, pygments) whenever click is installed;
    a send never runs it, so building a provider does not load it, and `httpx.main` still
    loads the real one when called."""
    pytest.importorskip("click")  # without click httpx skips its CLI anyway
    root = make_series(delivery=postmark_delivery("http://127.0.0.1:9"))
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from seriespub import publishing\n"
        "from seriespub.series import find_series\n"
        f"provider = publishing.provider_for(find_series(explicit=Path({str(root)!r})))\n"
        "print(type(provider).__name__, 'pygments' in sys.modules, 'click' in sys.modules)\n"
        "import httpx\n"
        "try:\n"
        "    httpx.main(['--help'], standalone_mode=False)\n"
        "except SystemExit:\n"
        "    pass\n"
        "print('pygments' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={**os.environ, "POSTMARK_SERVER_TOKEN": "token", "SERIESPUB_SECRET": TEST_SECRET},
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout.splitlines()
    assert out[0] == "PostmarkProvider False False"
    assert out[-1] == "True"  # httpx's own CLI, loaded on demand, ran (and printed its help)
