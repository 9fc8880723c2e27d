"""The device kinds the edge knows: one package each, found from this one table.

Adding a kind is a package under `edge/kinds/`, a codec in `drivers/`, a stub in
`firmware_stubs/`, tests, and one line here; ingest, store, runtime and web name no kind.
"""

from __future__ import annotations

from edge.kinds.base import DeviceKind
from edge.kinds.empty_box import KIND as EMPTY_BOX
from edge.kinds.iris import KIND as IRIS
from edge.kinds.scanner import KIND as SCANNER
from edge.kinds.smart_lock import KIND as SMART_LOCK
from edge.kinds.under_vehicle import KIND as UNDER_VEHICLE

# The order is the order the lane page and `kouan sim` list them in.
KINDS: dict[str, DeviceKind] = {
    kind.name: kind for kind in (SMART_LOCK, EMPTY_BOX, UNDER_VEHICLE, IRIS, SCANNER)
}

__all__ = ["KINDS", "DeviceKind"]
