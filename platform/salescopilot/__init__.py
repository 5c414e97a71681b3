"""Sales Copilot: a self-hostable, multi-tenant AI sales-email platform.

Plugins write `from salescopilot import hookimpl`.
"""

from salescopilot.plugin_system.markers import hookimpl

__all__ = ["hookimpl", "__version__"]
__version__ = "0.1.0"
