"""Piccolo's configuration module (PICCOLO_CONF=salescopilot.db.piccolo_conf).

`DB` is the *owner* connection: Piccolo's own commands (migrations) use it. The running app binds
its tables to the app engine instead (see `salescopilot.db.engine`).
"""

from piccolo.conf.apps import AppRegistry

from salescopilot.db.engine import engine_from_url
from salescopilot.settings import get_settings

DB = engine_from_url(get_settings().database.migration_url)

APP_REGISTRY = AppRegistry(apps=["salescopilot.db.piccolo_app"])
