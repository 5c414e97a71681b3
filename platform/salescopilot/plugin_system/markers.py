"""The pluggy markers of the `salescopilot` project."""

import pluggy

PROJECT_NAME = "salescopilot"
ENTRY_POINT_GROUP = "salescopilot.plugins"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)
