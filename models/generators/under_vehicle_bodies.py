"""The vehicle kinds of `models.generators.under_vehicle`: one builder per kind.

`BUILDERS[kind](painter, dims, kind, rng)` returns the layers of one undercarriage (car: unibody;
SUV, pickup, van: ladder frame or full-length rails; truck tractor), all NORMAL structure that
never enters the mask. The scene's geometry, the lane and the anomalies stay in under_vehicle.py.
"""

from __future__ import annotations

from models.generators.under_vehicle_car import build_car
from models.generators.under_vehicle_ladder import build_ladder
from models.generators.under_vehicle_truck import build_truck

BUILDERS = {"car": build_car, "suv": build_ladder, "pickup": build_ladder, "van": build_ladder, "truck": build_truck}
