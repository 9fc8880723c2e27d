"""What a device kind tells the passage layer about one stored reading.

A kind's `observe` turns a reading (and the events it raised) into `Observation`s: the keys it
correlates on (plate, container numbers, lock id, driver's card), what the device said in a few
words, the images it brings with their flagged regions, and its `Finding`s, each a reason in the
officer's words with the evidence it rests on. Checks that need the declaration (is this the
declared lock?) are the passage layer's own; a kind's findings stand without it, or use
`Declared` (what the declaration says of the keys it saw) through its `check`.
"""

from __future__ import annotations

import unicodedata
from dataclasses import asdict, dataclass, field
from typing import Any

from edge.store import EventRow


@dataclass(frozen=True)
class Region:
    """A flagged region on an image, in the image's own pixel coordinates."""

    x: int
    y: int
    width: int
    height: int
    score: float | None = None


@dataclass(frozen=True)
class ImageRef:
    """An image in the media store, what it shows, and the regions flagged on it."""

    sha256: str
    label: str
    width: int | None = None
    height: int | None = None
    regions: tuple[Region, ...] = ()


@dataclass(frozen=True)
class Finding:
    """One reason: a code the lane's configuration knows (hold or inform), the officer's words,
    and the evidence (event ids, a distance, an image and its regions)."""

    code: str
    words: str
    evidence: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Observation:
    """One reading as the passage sees it.

    `ref` names what the reading is about within the device (a pass id, a scan id, a lock id):
    a later observation with the same device and `ref` replaces an earlier one (the model's
    analysis of a pass replaces the pass). `pending` says more is coming for it (the analysis).
    """

    device_id: str
    kind: str
    ref: str
    said: str
    plate: str | None = None
    containers: tuple[str, ...] = ()
    lock_id: str | None = None
    card_id: str | None = None
    pending: bool = False
    images: tuple[ImageRef, ...] = ()
    findings: tuple[Finding, ...] = ()
    facts: dict[str, Any] = field(default_factory=dict)  # what a kind's `check` reads later; reads_plate: a plate reader

    def keys(self) -> list[str]:
        """The correlation keys, normalised: "plate:新F12345", "container:CSQU3054383", ..."""
        keys = [f"plate:{plate_norm(self.plate)}"] if self.plate else []
        keys += [f"container:{norm(c)}" for c in self.containers if c]
        keys += [f"lock:{norm(self.lock_id)}"] if self.lock_id else []
        keys += [f"card:{norm(self.card_id)}"] if self.card_id else []
        return keys

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Observation:
        images = tuple(ImageRef(**{**image, "regions": tuple(Region(**r) for r in image.get("regions", ()))})
                       for image in data.get("images", ()))
        findings = tuple(Finding(**f) for f in data.get("findings", ()))
        return cls(**{**data, "containers": tuple(data.get("containers", ())), "images": images,
                      "findings": findings})


def norm(value: str | None) -> str:
    """A key as compared: no spaces, upper case ("ab 123" and "AB123" are the same plate)."""
    return "".join((value or "").split()).upper()


# Cyrillic capitals a plate reader may give for Latin ones, and the separators plates are written with
_PLATE_TABLE = str.maketrans("АВЕКМНОРСТУХ", "ABEKMHOPCTYX", "-·•・._")


def plate_norm(value: str | None) -> str:
    """A plate as compared: `norm`, after NFKC (full-width letters), without the separators plates
    are written with ("123-ABC-02", "新F·12345") and with Cyrillic look-alikes read as Latin letters."""
    return norm(unicodedata.normalize("NFKC", value or "")).translate(_PLATE_TABLE)


@dataclass(frozen=True)
class ReadingView:
    """A stored reading as a kind's `observe` sees it, inside the reading's store transaction."""

    reading_id: int
    device_id: str
    kind: str
    message: str
    payload: dict[str, Any]
    state: dict[str, Any] | None
    events: tuple[EventRow, ...]
    device_time: str | None
    received_at: float
    from_device: bool


@dataclass(frozen=True)
class Declared:
    """What the passage's declaration says, as a kind's `check` needs it (None: no declaration)."""

    plate: str
    containers: dict[str, bool]  # container number -> declared empty
    locks: dict[str, str]  # lock id -> container number
    card_id: str | None
    declared_at: float  # when the vehicle declared (a lock opened after that was opened in transit)
    declared_at_known: bool = True  # False: the declaration gave no time, `declared_at` is when the lane got it
