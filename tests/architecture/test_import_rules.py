"""Dependencies point one way (DESIGN.md section 1): plugins use only the public contract of the
core, and HTTP modules reach tables only through services and repositories."""

from __future__ import annotations

from salescopilot.db.engine import all_tables
from salescopilot.plugin_system import interfaces
from tests.architecture.code_rules import (
    CORE,
    PLUGINS,
    ROOT,
    controller_table_imports,
    plugin_imports,
    python_files,
)

#: What a plugin may import from the core: `salescopilot` itself (hookimpl), the interfaces, and
#: the public helpers the interfaces module names in `PUBLIC_HELPERS`.
ALLOWED = frozenset(
    {
        "salescopilot",
        "salescopilot.plugin_system.interfaces",
        *getattr(interfaces, "PUBLIC_HELPERS", ()),
    }
)
TABLE_CLASSES = frozenset(t.__name__ for t in all_tables())


def test_plugins_import_only_the_public_contract():
    offences = []
    for path in python_files(PLUGINS):
        offences += plugin_imports(path.read_text(), str(path.relative_to(ROOT)), ALLOWED)
    assert not offences, "\n".join(offences)


def test_http_modules_do_not_import_tables():
    offences = []
    for path in python_files(CORE, PLUGINS):
        offences += controller_table_imports(
            path.read_text(), str(path.relative_to(ROOT)), TABLE_CLASSES
        )
    assert not offences, "\n".join(offences)


def test_the_plugin_check_catches_deliberate_violations():
    source = """
from salescopilot import hookimpl
from salescopilot.plugin_system.interfaces import MailProvider
from salescopilot.plugin_system import interfaces
from salescopilot.accounts.tables import ApiKey
from salescopilot.accounts import repository
import salescopilot.tenancy.repository
from salescopilot import accounts
from salescopilot.audit.service import AuditService
from . import helpers
import httpx
"""
    offences = plugin_imports(source, "plugins/crm_x/__init__.py", ALLOWED)
    assert [int(o.split(":")[1]) for o in offences] == [5, 6, 7, 8, 9], offences
    assert "never for plugins" in offences[0]


def test_the_controller_check_catches_deliberate_violations():
    source = """
from litestar import Controller, get
from salescopilot.accounts.tables import ApiKey
from salescopilot.audit import AuditEntry
from salescopilot.accounts import tables
from salescopilot.accounts.service import AccountService

class Keys(Controller):
    @get("/")
    async def list(self) -> list: ...
"""
    offences = controller_table_imports(
        source, "platform/salescopilot/x/controllers.py", TABLE_CLASSES
    )
    assert [int(o.split(":")[1]) for o in offences] == [3, 4, 5], offences
    without_routes = source.replace("class Keys(Controller):", "class Keys:").replace(
        '@get("/")', ""
    )
    assert (
        controller_table_imports(
            without_routes, "platform/salescopilot/x/service.py", TABLE_CLASSES
        )
        == []
    )
