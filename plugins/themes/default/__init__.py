"""The default theme: the look every tenant starts from. Registered through the entry point
`default_theme = "plugins.themes.default"`; `trylast=True` so an installed theme plugin's answer
comes first wherever order matters."""

from __future__ import annotations

from pathlib import Path

from salescopilot import hookimpl
from salescopilot.plugin_system.interfaces import Theme

HERE = Path(__file__).resolve().parent


class DefaultTheme(Theme):
    slug = "default"
    display_name = "Sales Copilot (default)"
    templates_dir = HERE / "templates"
    static_dir = HERE / "static"
    #: Contrast (WCAG 2.1): primary on its contrast colour 6.7:1, text on background 16.1:1.
    default_tokens = {
        "product_name": "Sales Copilot",
        "logo_url": "",
        "colour_primary": "#1d4ed8",
        "colour_primary_contrast": "#ffffff",
        "colour_background": "#ffffff",
        "colour_text": "#1f2937",
        "font_family": (
            "system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif"
        ),
        "email_footer": "",
    }


@hookimpl(trylast=True)
def register_themes() -> list[type[Theme]]:
    return [DefaultTheme]
