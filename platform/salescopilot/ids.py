"""Random identifiers in batches: a scheduler pass makes thousands at once, and one read of the
system's random source for all of them costs less than a read for each."""

from __future__ import annotations

import os
import uuid


def new_uuids(count: int) -> list[uuid.UUID]:
    """`count` random UUIDs, made as `uuid.uuid4()` makes one (122 random bits, version 4)."""
    data = os.urandom(16 * count)
    return [uuid.UUID(bytes=data[i:i + 16], version=4) for i in range(0, 16 * count, 16)]


def random_tokens(count: int, size: int = 16) -> list[bytes]:
    """`count` random byte strings of `size` bytes (as `secrets.token_bytes` makes one)."""
    data = os.urandom(size * count)
    return [data[i:i + size] for i in range(0, size * count, size)]
