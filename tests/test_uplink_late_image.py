"""An image that joins a passage after its decision (same state, same reasons) is a new revision:
the lane page and the hub get it. Before, the passage kept its version, the new upload carried the
revision the hub held, the hub answered "superseded" and never saw the image. The real passage
book, outbox, upload worker and a real hub over HTTP; the suite's stand-in device kind."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.hub_harness import running_hub
from tests.lane_harness import wait_until
from tests.uplink_edge import EdgeUplink
from tests.uplink_lane import png

FLAG = [{"code": "foreign_object", "words": "object under the vehicle", "evidence": {}}]


def observed(images: list[str]) -> dict[str, Any]:
    return {"obs": [{"ref": "pass-1", "said": "pass", "plate": "新F30001", "findings": FLAG,
                     "images": [{"sha256": sha, "label": "undercarriage", "width": 64, "height": 48, "regions": []}
                                for sha in images]}]}


def test_an_image_after_the_decision_reaches_the_hub_as_the_next_revision(tmp_path: Path) -> None:
    (tmp_path / "edge").mkdir()
    (tmp_path / "hub").mkdir()
    with running_hub(tmp_path / "hub") as hub:
        edge = EdgeUplink(tmp_path / "edge", hub.url, hub.edge_tokens["edge-1"], lane="L1").start()
        try:
            (passage_id,) = edge.reading(observed([]))
            first = edge.passage(passage_id)
            assert first["state"] == "flagged"
            wait_until(lambda: edge.rows() == [], 15, what="the first revision sent")
            image = png(edge.media, 7)
            edge.reading(observed([image]))  # the same pass's image, after the decision
            second = edge.passage(passage_id)
            assert (second["state"], second["reasons"]) == (first["state"], first["reasons"])
            assert second["version"] > first["version"]  # the page's live row and the hub's revision move on
            wait_until(lambda: edge.rows() == [], 15, what="the second revision sent")
            assert edge.rows("outbox_refused") == []
            item = wait_until(lambda: next((i for i in hub.reviewer.get("/api/v1/queue").json()["items"]
                                            if i["passage_id"] == passage_id), None), 5, what="the review item")
            detail = hub.reviewer.get(f"/api/v1/review/{item['id']}").json()
            assert [i["sha256"] for i in detail["passage"]["images"]] == [image]
            assert hub.reviewer.get(f"/api/v1/images/{image}").status_code == 200
        finally:
            edge.stop()
            edge.close()
