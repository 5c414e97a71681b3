import re
from pathlib import Path

import pytest
from pydantic import BaseModel, SecretStr

from tests.plugins.plugin_samples import AcmeCrm
from salescopilot import hookimpl
from salescopilot.plugin_system.errors import (
    DuplicatePluginSlug,
    InvalidPluginClass,
    PluginNotFound,
)
from salescopilot.plugin_system.interfaces import (
    DESIGN_TOKEN_NAMES,
    CrmConnector,
    DesignTokens,
    Theme,
)
from salescopilot.plugin_system.manager import create_plugin_manager
from salescopilot.plugin_system.registry import PluginKind, catalogue_for


class OtherAcme(AcmeCrm):
    display_name = "Another Acme"


class RivalPlugin:
    @hookimpl
    def register_crm_connectors(self):
        return [OtherAcme]


def test_two_plugins_offering_one_slug_fail_naming_both(acme_plugin):
    pm = create_plugin_manager(load_entry_points=False, extra_plugins=[acme_plugin, RivalPlugin()])

    with pytest.raises(DuplicatePluginSlug) as caught:
        catalogue_for(pm)
    message = caught.value.message
    assert "crm_connector slug 'acme' is registered twice" in message
    assert (
        "'tests.plugins.plugin_samples.AcmeCrmPlugin'" in message
        and "'tests.plugins.test_plugin_registry.RivalPlugin'" in message
    )
    assert sorted(caught.value.details["plugins"]) == [
        "tests.plugins.plugin_samples.AcmeCrmPlugin",
        "tests.plugins.test_plugin_registry.RivalPlugin",
    ]


def test_the_same_slug_in_different_kinds_is_fine(plugin_manager):
    class AcmeTheme(Theme):
        slug = "acme"
        display_name = "Acme"
        templates_dir = Path(__file__).parent
        static_dir = Path(__file__).parent
        default_tokens = {
            "product_name": "Acme",
            "colour_primary": "#000000",
            "colour_primary_contrast": "#ffffff",
            "colour_background": "#ffffff",
            "colour_text": "#000000",
            "font_family": "serif",
        }

    class ThemePlugin:
        @hookimpl
        def register_themes(self):
            return [AcmeTheme]

    plugin_manager.register(ThemePlugin(), name="acme_theme")
    catalogue = catalogue_for(plugin_manager)
    assert catalogue.get("theme", "acme").plugin_class is AcmeTheme
    assert catalogue.get(PluginKind.CRM_CONNECTOR, "acme").plugin_class is AcmeCrm


def test_lookup_by_kind_and_slug(plugin_manager):
    catalogue = catalogue_for(plugin_manager)

    entry = catalogue.get("crm_connector", "acme")
    assert (entry.display_name, entry.plugin_name) == ("Acme CRM", "tests.plugins.plugin_samples.AcmeCrmPlugin")
    assert catalogue.entries("crm_connector") == [entry]
    assert catalogue.entry_for_class(AcmeCrm) == entry
    assert catalogue.keys_of_plugin("tests.plugins.plugin_samples.AcmeCrmPlugin") == {("crm_connector", "acme")}
    assert catalogue.keys_of_plugin("tests.plugins.plugin_samples.EventListenerPlugin") == frozenset()
    for kind, slug in [("crm_connector", "nope"), ("no_such_kind", "acme"), ("theme", "acme")]:
        with pytest.raises(PluginNotFound):
            catalogue.get(kind, slug)


def test_the_catalogue_is_rebuilt_when_plugins_change(plugin_manager, acme_plugin):
    first = catalogue_for(plugin_manager)
    assert catalogue_for(plugin_manager) is first

    plugin_manager.unregister(acme_plugin)
    assert len(catalogue_for(plugin_manager)) == 0


class NestedSecrets(BaseModel):
    token: SecretStr


class Nested(BaseModel):
    auth: NestedSecrets


class Incomplete(CrmConnector):  # abstract methods left out
    slug = "incomplete"
    display_name = "Incomplete"


class BadSlug(AcmeCrm):
    slug = "Bad Slug!"


class NestedSecret(AcmeCrm):
    slug = "nested"
    settings_model = Nested


@pytest.mark.parametrize(
    ("returned", "problem"),
    [
        ([str], "not a CrmConnector subclass"),
        ([Incomplete], "abstract methods not implemented"),
        ([BadSlug], "slug 'Bad Slug!' must be"),
        ([NestedSecret], "secrets must be top-level fields"),
        (AcmeCrm, "must return a list"),
    ],
)
def test_invalid_plugin_classes_are_refused_with_the_reason(returned, problem):
    class Offering:
        @hookimpl
        def register_crm_connectors(self):
            return returned

    pm = create_plugin_manager(load_entry_points=False, extra_plugins=[Offering()])
    with pytest.raises(InvalidPluginClass, match=re.escape(problem)):
        catalogue_for(pm)


class Exploding:
    @hookimpl
    def register_themes(self):
        raise KeyError("THEME_DIR")


def test_a_registration_hook_that_raises_is_reported_with_the_plugin_name():
    pm = create_plugin_manager(load_entry_points=False, extra_plugins=[Exploding()])
    with pytest.raises(InvalidPluginClass, match="'tests.plugins.test_plugin_registry.Exploding'.*KeyError"):
        catalogue_for(pm)


def _luminance(hex_colour: str) -> float:
    channels = [int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def _contrast(a: str, b: str) -> float:
    high, low = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_the_default_theme_meets_wcag_aa_contrast_and_its_css_uses_every_colour_token():
    theme = catalogue_for(create_plugin_manager()).get("theme", "default").plugin_class
    tokens = theme.tokens()

    assert _contrast(tokens.colour_primary, tokens.colour_primary_contrast) >= 4.5
    assert _contrast(tokens.colour_text, tokens.colour_background) >= 4.5
    assert _contrast(tokens.colour_primary, tokens.colour_background) >= 4.5  # links
    css = (theme.static_dir / "theme.css").read_text()
    for name in DESIGN_TOKEN_NAMES:
        if name.startswith("colour_") or name == "font_family":
            assert f"--{name.replace('_', '-')}:" in css, name
    assert "@media (min-width: 48rem)" in css  # phone-first layout


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("colour_primary", "red; background: url(https://evil)"),
        ("font_family", "x}</style><script>"),
        ("logo_url", "javascript:alert(1)"),
        ("logo_url", "//evil.example/logo.png"),
        ("product_name", "Acme\x00"),
    ],
)
def test_design_token_overrides_cannot_break_out_of_css_or_html(field, value):
    tokens = DesignTokens.model_validate(
        {
            "product_name": "Acme",
            "colour_primary": "#112233",
            "colour_primary_contrast": "#ffffff",
            "colour_background": "#ffffff",
            "colour_text": "#000",
            "font_family": "Inter, sans-serif",
        }
    )
    assert tokens.with_overrides({"logo_url": "/static/logo.svg"}).logo_url == "/static/logo.svg"
    with pytest.raises(ValueError):
        tokens.with_overrides({field: value})
