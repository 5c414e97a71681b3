import json

import structlog

from salescopilot.settings import Settings
from salescopilot.web.logging import configure_logging


def test_log_lines_are_json_and_secret_fields_are_masked(capsys):
    configure_logging(Settings(log_json=True))
    structlog.get_logger("t").info("signed_in", email="ann@acme.test", password="hunter2-secret", api_key="sc_x")
    line = capsys.readouterr().err.strip().splitlines()[-1]
    record = json.loads(line)
    assert record["event"] == "signed_in" and record["email"] == "ann@acme.test"
    assert "hunter2" not in line and "sc_x" not in line
