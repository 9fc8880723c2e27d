"""The one module of wire models that the edge and the hub share (see contract.uplink)."""
