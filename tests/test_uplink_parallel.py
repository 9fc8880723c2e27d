"""The upload worker's images in flight together (`[uplink] parallel_uploads`) against the real hub:
at most that many at once, passages in order and each only after its images were confirmed, the
bandwidth cap over all of them together. The edge's HTTP goes through a transport that records
each request's start and answer (httpx's own underneath: nothing is mocked)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.hub_harness import Hub, running_hub
from tests.lane_harness import wait_until
from tests.uplink_edge import EdgeUplink
from tests.uplink_lane import pass_payload, tiff


@dataclass(frozen=True)
class Call:
    start: float
    end: float
    method: str
    path: str
    body: bytes


class Recording(httpx.AsyncBaseTransport):
    """httpx's transport, with each request's start and the moment its answer's headers came."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.calls: list[Call] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        start = time.monotonic()
        body = request.content if request.method == "PUT" else b""
        response = await self.inner.handle_async_request(request)
        self.calls.append(Call(start, time.monotonic(), request.method, request.url.path, body))
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()

    def blob_spans(self) -> dict[str, tuple[float, float]]:
        """Each image's upload, from its first request to its last answer."""
        spans: dict[str, tuple[float, float]] = {}
        for call in self.calls:
            if "/blobs/" in call.path:
                sha = call.path.rsplit("/", 1)[1]
                was = spans.get(sha, (call.start, call.end))
                spans[sha] = (min(was[0], call.start), max(was[1], call.end))
        return spans

    def passages(self) -> list[tuple[Call, dict[str, object]]]:
        return [(call, json.loads(call.body)) for call in self.calls if call.method == "PUT"]


def most_at_once(spans: list[tuple[float, float]]) -> int:
    return max(sum(1 for s, e in spans if s <= start < e) for start, _ in spans)


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    with running_hub(tmp_path_factory.mktemp("hub")) as running:
        yield running


def drained(tmp_path: Path, hub: Hub, scans: int, side: int, seed: int, **uplink: object) -> tuple[Recording, list[str]]:
    """`scans` flagged passages of one TIFF each, queued, then the uplink started until the outbox is empty."""
    recording = Recording()
    (tmp_path / "edge").mkdir()
    edge = EdgeUplink(tmp_path / "edge", hub.url, hub.edge_tokens["edge-1"], lane="L1", transport=recording,
                      **uplink)
    try:
        edge.start(uplink=False)
        shas = [tiff(edge.media, seed + k, side, side) for k in range(scans)]
        for k, sha in enumerate(shas):
            edge.reading(pass_payload(f"P{seed}{k:03d}", [sha]))

        async def start() -> None:
            assert edge.uplink is not None
            edge.uplink.start()

        edge.run(start())
        wait_until(lambda: edge.rows() == [], 60, what="the outbox emptied")
        assert edge.rows("outbox_refused") == []
    finally:
        edge.stop()
        edge.close()
    return recording, shas


@pytest.mark.parametrize("parallel", [1, 2, 3])
def test_images_in_flight_together_passages_in_order_after_theirs(tmp_path: Path, hub: Hub, parallel: int) -> None:
    recording, shas = drained(tmp_path, hub, 5, 500, 100 * parallel, chunk_bytes=128 * 1024,
                              parallel_uploads=parallel)
    spans = recording.blob_spans()
    assert sorted(spans) == sorted(shas)
    assert most_at_once(list(spans.values())) == parallel
    starts = sorted(shas, key=lambda sha: spans[sha][0])
    assert starts == shas  # started in the outbox's order
    puts = recording.passages()
    assert [doc["passage_id"] for _, doc in puts] == sorted(doc["passage_id"] for _, doc in puts)  # type: ignore[type-var]
    assert len(puts) == len(shas)
    for call, doc in puts:  # a passage only after the hub confirmed every image it names
        for image in doc["images"]:  # type: ignore[attr-defined]
            assert call.start >= spans[image["sha256"]][1]
    for sha in shas:
        head = hub.edge.head(f"/api/v1/blobs/{sha}")
        assert head.headers["Upload-Offset"] == head.headers["Upload-Length"]


def test_the_bandwidth_cap_covers_the_uploads_together(tmp_path: Path, hub: Hub) -> None:
    rate = 1_000_000
    recording, shas = drained(tmp_path, hub, 2, 600, 900, chunk_bytes=256 * 1024, parallel_uploads=2,
                              bandwidth_bytes_s=rate)
    spans = recording.blob_spans()
    assert most_at_once(list(spans.values())) == 2
    sent = 2 * (600 * 600 * 2)  # the pixels alone, less than the files
    took = max(e for _, e in spans.values()) - min(s for s, _ in spans.values())
    burst = max(rate / 20, 16 * 1024)
    assert took >= (sent - burst) / rate * 0.95, took  # one cap for both, not one each
