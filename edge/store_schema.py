"""Every migration of the edge's store, in order, for whatever opens it (the runtime, `kouan
user`, `kouan iris enrol`): the core's (which `Store` adds itself), the passages', the uplink's, the lane
normal's, each kind's."""

from __future__ import annotations

from edge.kinds import KINDS
from edge.migrations import Migration
from edge.normal.schema import MIGRATIONS as NORMAL_MIGRATIONS
from edge.passages.schema import MIGRATIONS as PASSAGE_MIGRATIONS
from edge.uplink.schema import MIGRATIONS as UPLINK_MIGRATIONS


def store_migrations() -> list[Migration]:
    return [*PASSAGE_MIGRATIONS, *UPLINK_MIGRATIONS, *NORMAL_MIGRATIONS, *(m for kind in KINDS.values() for m in kind.migrations)]
