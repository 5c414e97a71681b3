"""tracking_pixel: the open pixel with event recording (`GET /t/o/<token>` of a stored, sent
message: token check, tenant from the Host, the hit queued for the batch writer, the GIF) vs a
bare Litestar route returning the same GIF. Goals: ratio of requests/s >= 0.8, p99 <= 50 ms,
and zero events lost (every request is a stored event once the server has shut down).

    python benchmarks/tracking_pixel.py            # full size (~2 min)
    python benchmarks/tracking_pixel.py --quick    # < 60 s

The last line printed is one JSON object (see BENCHMARKS.md).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _tracking_load import main  # noqa: E402

if __name__ == "__main__":
    main("tracking_pixel", "open", 0.8, str(Path(__file__).resolve()), __doc__)
