"""Enrolment from what the edge stored: a card's last N captures that passed the quality gate.

`enrol_card` opens the edge's store (`edge.store.Store`, with every kind's migrations, so the
chain is the one the edge applies) and records the enrolment as a reading of the iris device
(`message` "enrol", payload: the request). Its deriver, inside that one transaction, picks the
card's last N good captures from `iris_captures`, reads their code and mask from the private media store
(checked against their SHA-256), requires every pair of them to match (`enrol.enrol_from_captures`),
replaces the card's templates and raises an `enrolled` event. Anything that fails rolls it all back.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field

from drivers.iris import unpack_bits
from edge.config import EdgeConfig
from edge.kinds.iris.enrol import enrol_from_captures
from edge.kinds.iris.matching import MatchConfig
from edge.kinds.iris.templates import good_captures, replace_templates
from edge.media import MediaStore
from edge.store import Derived, Deriver, Store, Txn


class EnrolError(ValueError):
    """Why a card could not be enrolled, in words for the operator."""


@dataclass
class EnrolResult:
    """What was enrolled: the template row ids, the captures (reading ids) used, their pairwise distances."""

    card_id: str
    device_id: str
    template_ids: list[int] = field(default_factory=list)
    from_readings: list[int] = field(default_factory=list)
    agreement: list[tuple[int, int, float]] = field(default_factory=list)


def iris_device(config: EdgeConfig, device_id: str | None) -> str:
    """The iris device the enrolment is recorded under: the one named, or the lane's only one."""
    readers = [d.id for d in config.devices if d.kind == "iris"]
    if device_id is not None:
        if device_id not in readers:
            known = ", ".join(readers) or "none"
            raise EnrolError(f"no iris device '{device_id}' in the config (iris devices: {known})")
        return device_id
    if len(readers) != 1:
        known = ", ".join(readers) or "none"
        raise EnrolError(f"the config has {len(readers)} iris devices ({known}): name one with --device")
    return readers[0]


def _holding(stores: tuple[MediaStore, ...], sha256: str) -> MediaStore:
    """The first store that holds `sha256`: the private one, then the media folder where an edge
    before the private store kept iris codes (those captures stay usable)."""
    return next((store for store in stores if store.has(sha256)), stores[0])


def _enrolment(result: EnrolResult, count: int, stores: tuple[MediaStore, ...], rule: MatchConfig, who: str,
               at: float) -> Deriver:
    card = result.card_id

    def derive(txn: Txn, reading_id: int) -> Derived:
        found = good_captures(txn, card, count)
        if len(found) < count:
            raise EnrolError(f"card {card}: {len(found)} capture(s) that passed the quality gate are stored, "
                             f"{count} asked for; present the card and eye again")
        pairs = []
        for capture in found:
            with _holding(stores, capture.code_sha256).open(capture.code_sha256, verify=True) as code, \
                    _holding(stores, capture.mask_sha256).open(capture.mask_sha256, verify=True) as mask:
                pairs.append((unpack_bits(code.read()), unpack_bits(mask.read())))
        try:
            enrolment = enrol_from_captures(pairs, rule)
        except ValueError as exc:
            raise EnrolError(f"card {card}: {exc}") from None
        result.from_readings = [c.reading_id for c in found]
        result.agreement = [(found[i].reading_id, found[j].reading_id, round(d, 4)) for i, j, d in enrolment.agreement]
        source = "readings " + ",".join(map(str, result.from_readings))
        result.template_ids = replace_templates(txn, card, list(enrolment.templates), at, who, source)
        worst = max(d for _, _, d in result.agreement)
        detail = (f"{len(result.template_ids)} template(s) from the last {count} good captures ({source}); "
                  f"they agree within distance {worst:.3f}; enrolled by {who or 'unknown'}")
        return Derived(newest=False, events=[txn.add_event(card, "enrolled", detail, None, reading_id)])

    return derive


def enrol_card(config: EdgeConfig, card_id: str, count: int, device_id: str | None = None,
               who: str = "") -> EnrolResult:
    """Enrol `card_id` from its last `count` good captures in the edge's store; EnrolError says why not."""
    from edge.store_schema import store_migrations

    if count < 2:
        raise EnrolError("enrolment needs at least 2 captures (--from-captures 2 or more)")
    device = iris_device(config, device_id)
    defaults = config.kind_defaults("iris")
    at = time.time()
    result = EnrolResult(card_id, device)
    request = {"card_id": card_id, "from_captures": count, "by": who, "at": at}
    digest = hashlib.sha256(json.dumps(request, sort_keys=True).encode()).hexdigest()
    store = Store(config.store.path, store_migrations())
    try:
        store.record_reading(device, at, None, "enrol", digest, request, None,
                             _enrolment(result, count, (MediaStore(config.store.private_media_dir),
                                                        MediaStore(config.store.media_dir)),
                                        defaults.match_config(), who, at), "iris")
    finally:
        store.close()
    return result
