"""Email templates: the renderer (`render_template`), versions, categories and the library of
pre-built templates. Not the web layer's Jinja templates (`salescopilot/web/templates/`)."""

from salescopilot.templates.renderer import Rendered, TemplateProblem, render_template

__all__ = ["Rendered", "TemplateProblem", "render_template"]
