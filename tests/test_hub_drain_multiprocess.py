"""Two hub processes and four reviewer clients on one PostgreSQL drain 1,000 queued scans.

None is decided twice and none is left behind, also when one client stops renewing its lease in
the middle of a review (a closed browser): after the lease runs out (2 s here) another reviewer
takes that scan over with a higher fencing token, and the silent client's late verdict is refused.
Everything is real: two `python -m hub` processes, HTTP, PostgreSQL.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from tests.hub_db import fresh_postgres_url
from tests.hub_samples import T0, add_edge, passage, store

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

SCANS = 1000
REVIEWERS = ("r1", "r2", "r3", "r4")
PASSWORD = "reviewer-password"
LEASE_S = 2.0


@contextmanager
def hub_process(config: Path, log: Path) -> Iterator[str]:
    """`python -m hub --config FILE --port 0`, its URL once it listens; killed afterwards."""
    handle = log.open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "hub", "--config", str(config), "--port", "0"],
                            stdout=subprocess.PIPE, stderr=handle, cwd=Path(__file__).resolve().parents[1])
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().decode()
        assert line.startswith("review hub: "), f"hub did not start: {line!r}; log: {log.read_text()[-2000:]}"
        yield line.split(": ", 1)[1].strip().rstrip("/")
    finally:
        proc.kill()
        proc.wait(10)
        handle.close()


class Reviewer(threading.Thread):
    """Claims, renews once, decides; until the queue stays empty. `abandon_at`: the n-th claim is
    left without renewal past the lease, then decided late (and must be refused)."""

    def __init__(self, name: str, url: str, abandon_at: int | None = None) -> None:
        super().__init__(name=name, daemon=True)
        self.url, self.abandon_at = url, abandon_at
        self.decided: list[int] = []
        self.stale_refused: list[int] = []
        self.errors: list[str] = []

    def run(self) -> None:
        try:
            self._work()
        except Exception as exc:  # reported by the test
            self.errors.append(repr(exc))

    def _work(self) -> None:
        with httpx.Client(base_url=self.url, timeout=30) as client:
            me = client.post("/api/v1/login", json={"name": self.name, "password": PASSWORD})
            assert me.status_code == 200, me.text
            client.headers["X-CSRF-Token"] = me.json()["csrf"]
            claims, empty = 0, 0
            while empty < 3:
                answer = client.post("/api/v1/queue/claim")
                if answer.status_code == 204:
                    empty += 1
                    time.sleep(LEASE_S / 2)  # an abandoned claim comes back after its lease
                    continue
                assert answer.status_code == 200, answer.text
                empty = 0
                claim = answer.json()
                claims += 1
                item, fence = claim["item_id"], claim["fence"]
                if claims == self.abandon_at:
                    time.sleep(LEASE_S * 2.5)  # the browser closed: no renewal
                    late = client.post(f"/api/v1/review/{item}/verdict", json={"fence": fence, "verdict": "clear"})
                    if late.status_code == 409:
                        self.stale_refused.append(item)
                    else:
                        self.errors.append(f"a verdict under a lapsed, taken-over lease answered {late.status_code}")
                    continue
                renewed = client.post(f"/api/v1/review/{item}/renew", json={"fence": fence})
                assert renewed.status_code == 200, renewed.text
                verdict = "suspicious" if item % 10 == 0 else "clear"
                done = client.post(f"/api/v1/review/{item}/verdict",
                                   json={"fence": fence, "verdict": verdict, "note": "seen" if verdict != "clear" else ""})
                if done.status_code == 409:  # our lease lapsed on a slow machine and someone took it
                    self.stale_refused.append(item)
                    continue
                assert done.status_code == 200, done.text
                self.decided.append(item)


def test_two_hub_processes_four_reviewers_drain_1000_scans_once_each(tmp_path: Path) -> None:
    if not os.environ.get("KOUAN_TEST_POSTGRES"):
        pytest.skip("KOUAN_TEST_POSTGRES is not set (.ci/run sets it)")
    from hub import accounts
    from hub.db.engine import Database

    with fresh_postgres_url() as url:
        config = tmp_path / "hub.toml"
        config.write_text(f'[database]\nurl = "{url}"\n[blobs]\nroot = "{tmp_path / "blobs"}"\n'
                          f"[review]\nlease_s = {LEASE_S}\nrecheck_share = 0.0\n", encoding="utf-8")
        db = Database.open(url)
        try:
            edge = add_edge(db, "edge-a", "lane-1", "port-n")
            with db.session() as s:
                for name in REVIEWERS:
                    accounts.add_user(s, name, "reviewer", PASSWORD, actor="test")
            for n in range(1, SCANS + 1):
                store(db, edge, passage("lane-1", n, flagged=n % 3 == 0, score=(n % 97) / 97,
                                        arrived_at=T0 + n), now=time.time())
            with hub_process(config, tmp_path / "hub-a.log") as url_a, \
                    hub_process(config, tmp_path / "hub-b.log") as url_b:
                clients = [Reviewer(name, (url_a, url_b)[i % 2], abandon_at=5 if i == 2 else None)
                           for i, name in enumerate(REVIEWERS)]
                started = time.monotonic()
                for client in clients:
                    client.start()
                for client in clients:
                    client.join(240)
                took = time.monotonic() - started
            assert not any(c.is_alive() for c in clients), "a reviewer client never finished"
            assert [e for c in clients for e in c.errors] == []
            with db.read_session() as s:
                per_item = Counter(row[0] for row in s.execute(text(
                    "SELECT item_id FROM verdicts WHERE stage='review'")))
                states = dict(s.execute(text("SELECT state, COUNT(*) FROM review_items GROUP BY state")).all())
                fences = dict(s.execute(text("SELECT id, fence FROM review_items")).all())
        finally:
            db.dispose()
    decided = [item for c in clients for item in c.decided]
    abandoned = clients[2].stale_refused
    print(f"\n{SCANS} scans drained by 2 hub processes and 4 reviewers in {took:.1f} s; "
          f"decided per client {[len(c.decided) for c in clients]}; stale verdicts refused {abandoned}")
    assert len(per_item) == SCANS, f"{SCANS - len(per_item)} scans left without a verdict"
    assert max(per_item.values()) == 1, "a scan was decided twice"
    assert sorted(decided) == sorted(per_item), "the clients' accepted verdicts are not the stored ones"
    assert set(states) <= {"decided", "recheck"}, states
    assert abandoned, "the silent client's late verdict was not refused"
    for item in abandoned:
        assert per_item[item] == 1 and fences[item] >= 2, "the abandoned scan was not taken over under a new fence"
