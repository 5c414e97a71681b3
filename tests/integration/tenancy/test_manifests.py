"""`tenants apply`: validated, idempotent, all or nothing."""

from pathlib import Path

import pytest

from salescopilot import hookimpl
from salescopilot.clock import FakeClock
from salescopilot.plugin_system.manager import create_plugin_manager
from salescopilot.tenancy.manifest import ManifestInvalid
from salescopilot.tenancy.repository import TenantCatalogue
from salescopilot.tenancy.service import TenantManifestService


def write(root: Path, slug: str, text: str) -> None:
    (root / slug).mkdir(parents=True, exist_ok=True)
    (root / slug / "tenant.toml").write_text(text)


class Recorder:
    def __init__(self):
        self.created = []

    @hookimpl
    def on_tenant_created(self, tenant):
        self.created.append(tenant.slug)


@pytest.fixture
def recorder():
    return Recorder()


@pytest.fixture
def service(settings, recorder):
    pm = create_plugin_manager(extra_plugins=[recorder])
    return TenantManifestService(settings, pm, FakeClock())


GOOD = '''slug = "initech"
name = "Initech"
domains = ["sales.initech.example"]
[theme.tokens]
product_name = "Initech Sales"
colour_primary = "#114488"
'''


async def test_apply_creates_then_changes_nothing(db, tmp_path, service, recorder):
    write(tmp_path, "initech", GOOD)
    first = await service.apply(tmp_path)
    assert first.created == ["initech"]
    assert recorder.created == ["initech"]
    catalogue = TenantCatalogue()
    tenant = await catalogue.by_slug("initech")
    assert await catalogue.hostnames(tenant.id) == ["initech.localhost", "sales.initech.example"]
    second = await service.apply(tmp_path)
    assert second.unchanged == ["initech"] and not second.created and not second.updated


async def test_changes_are_applied_and_domains_follow(db, tmp_path, service):
    write(tmp_path, "initech", GOOD)
    await service.apply(tmp_path)
    write(tmp_path, "initech", GOOD.replace("Initech\"", "Initech Ltd\"").replace('"sales.initech.example"', '"go.initech.example"'))
    report = await service.apply(tmp_path)
    assert report.updated == ["initech"]
    catalogue = TenantCatalogue()
    tenant = await catalogue.by_slug("initech")
    assert tenant.name == "Initech Ltd"
    assert await catalogue.hostnames(tenant.id) == ["go.initech.example", "initech.localhost"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('slug = "initech"\nname = "X"\nflavour = "mint"\n', "flavour"),
        ('slug = "initech"\n', "name"),
        ('slug = "other"\nname = "X"\n', "folder name"),
        ('slug = "initech"\nname = "X"\ndomains = ["not a host"]\n', "domains"),
        ('slug = "initech"\nname = "X"\n[theme.tokens]\ncolour_primary = "red; }"\n', "colour_primary"),
        ('slug = "initech"\nname = "X"\n[theme]\nname = "nope"\n', "theme.name"),
        ('slug = "initech"\nname = "X"\n[plugins.crm_connector.nope]\nenabled = true\n', "plugins.crm_connector.nope"),
        ('slug = "initech"\nname = "X"\n[plugins.theme.default]\nenabled = true\n', "theme.name instead"),
        ('slug = "initech\nname = \n', "not valid TOML"),
    ],
)
async def test_a_bad_manifest_names_file_key_and_problem_and_changes_nothing(db, tmp_path, service, text, expected):
    write(tmp_path, "acme2", GOOD.replace("initech", "acme2"))
    write(tmp_path, "initech", text)
    with pytest.raises(ManifestInvalid) as raised:
        await service.apply(tmp_path)
    message = "; ".join(raised.value.problems)
    assert "initech/tenant.toml" in message and expected in message
    # The valid manifest next to it was not applied either.
    assert await TenantCatalogue().by_slug("acme2") is None


async def test_a_domain_of_another_tenant_is_refused(db, tmp_path, service, tenant_a):
    write(tmp_path, "initech", GOOD.replace('"sales.initech.example"', '"acme.localhost"'))
    with pytest.raises(ManifestInvalid, match="belongs to another tenant"):
        await service.apply(tmp_path)


def test_the_cli_reports_problems_and_exits_1(settings, tmp_path):
    from click.testing import CliRunner

    from salescopilot.cli import main

    write(tmp_path, "initech", 'slug = "initech"\n')
    result = CliRunner().invoke(main, ["tenants", "apply", str(tmp_path)])
    assert result.exit_code == 1
    assert "initech/tenant.toml: name: Field required" in result.output


def test_the_demo_manifest_is_valid(settings):
    from salescopilot.settings import PROJECT_ROOT
    from salescopilot.tenancy.manifest import load_all

    loaded = load_all(PROJECT_ROOT / "tenants")
    assert "demo" in {item.manifest.slug for item in loaded}


CRM = '''slug = "initech"
name = "Initech"
[plugins.crm_connector.acme]
enabled = true
settings = { base_url = "https://crm.initech.example" }
secrets = { api_key = { "$env" = "SC_TEST_ACME_KEY" } }
'''


@pytest.fixture
def crm_service(settings):
    from tests.plugins.plugin_samples import AcmeCrmPlugin

    pm = create_plugin_manager(extra_plugins=[AcmeCrmPlugin()])
    return TenantManifestService(settings, pm, FakeClock())


async def test_plugin_secrets_come_from_env_references_and_are_stored_encrypted(db, tmp_path, crm_service, monkeypatch):
    from salescopilot.plugin_system.tables import TenantPluginConfig

    write(tmp_path, "initech", CRM)
    with pytest.raises(ManifestInvalid, match="SC_TEST_ACME_KEY is not set"):
        await crm_service.apply(tmp_path)
    assert await TenantCatalogue().by_slug("initech") is None
    monkeypatch.setenv("SC_TEST_ACME_KEY", "acme-live-key-123")
    await crm_service.apply(tmp_path)
    from salescopilot.tenancy.context import TenantRef, tenant_scope

    tenant = await TenantCatalogue().by_slug("initech")
    async with tenant_scope(TenantRef(tenant.id, tenant.slug)):
        rows = await TenantPluginConfig.select()  # the raw row: what is at rest
    assert len(rows) == 1 and rows[0]["enabled"]
    assert "acme-live-key-123" not in str(rows[0])
