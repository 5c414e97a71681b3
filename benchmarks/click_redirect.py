"""click_redirect: the click redirect (`GET /t/c/<token>` of a stored, sent message: token check,
tenant from the Host, the link's destination (read once, then from the process's cache: a sent
message's links never change), the hit queued for the batch writer, a 302) vs a bare Litestar
route returning the tracking GIF. Goal: ratio of requests/s >= 0.7, and zero events lost.

    python benchmarks/click_redirect.py            # full size (~2 min)
    python benchmarks/click_redirect.py --quick    # < 60 s

The last line printed is one JSON object (see BENCHMARKS.md).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _tracking_load import main  # noqa: E402

if __name__ == "__main__":
    main("click_redirect", "click", 0.7, str(Path(__file__).resolve()), __doc__)
