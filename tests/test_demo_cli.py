"""`kouan demo` (the README's main command): a whole simulated lane comes up, its trucks make
passages that the machine releases or flags for the right reason, and it goes down cleanly; it
prints its officer's login, and the lane terminal answers only after that login."""

from __future__ import annotations

import argparse
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from edge.commands.demo import _enrol_drivers, _trucks
from edge.commands.demo_scenario import PROBLEMS, Vehicle, sampler, stream
from tests.lane_harness import log_in, wait_until



def _read_until_terminal(proc: subprocess.Popen[str], lines: list[str], timeout: float) -> dict[str, str]:
    """What the demo printed before its lane terminal answered: the URL, the login, the scenario."""
    found: dict[str, str] = {}
    patterns = {"url": r"lane terminal: (http://\S+)", "password": r"officer login: officer / (\S+)",
                "scenario": r"kouan demo: scenario: (.+)", "hub": r"review hub: (http://\S+)",
                "reviewer": r"reviewer login: reviewer / (\S+)", "supervisor": r"supervisor login: supervisor / (\S+)"}
    deadline = time.monotonic() + timeout
    while "url" not in found and time.monotonic() < deadline and proc.stdout is not None:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        for name, pattern in patterns.items():
            if match := re.fullmatch(pattern, line.rstrip("\n")):
                found[name] = match.group(1)
    return found


def _drain(proc: subprocess.Popen[str], lines: list[str]) -> None:
    """Keep reading what the demo logs: a full pipe would stall the lane."""
    if proc.stdout is not None:
        lines.extend(iter(proc.stdout.readline, ""))


def _check_passage(truck: Vehicle, passage: dict[str, Any]) -> None:
    holding = {r["code"] for r in passage["reasons"] if r["holds"]}
    said = "; ".join(f"{o['device_id']}: {o['said']}" for o in passage.get("observations", ()))
    what = (f"{truck.plate} ({truck.problem or 'clean'}): {passage['state']} by {passage['acted_by']}, "
            f"holding {holding}; the devices said: {said}")
    if truck.problem is None:
        assert (passage["state"], passage["acted_by"], holding) == ("released", "machine", set()), what
        return
    assert passage["state"] == "flagged" and truck.expected_reason in holding, what
    declared = None if truck.problem == "undeclared" else truck.declaration_id
    assert passage["declaration_id"] == declared, what
    if truck.problem == "iris_silent":
        assert any(r["code"] == "device_missing" and r["device_id"] == "iris" for r in passage["reasons"]), what


def test_demo_trucks_make_passages_released_or_flagged_and_it_stops_on_sigint(tmp_path: Path) -> None:
    started = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "edge.cli", "demo", "--port", "0", "--hub-port", "0", "--workdir", str(tmp_path),
         "--sampler"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    lines: list[str] = []
    client = httpx.Client(timeout=10)
    try:
        printed = _read_until_terminal(proc, lines, 60)
        threading.Thread(target=_drain, args=(proc, lines), daemon=True).start()
        url, password = printed.get("url"), printed.get("password")
        assert url and printed.get("scenario", "").startswith("11 trucks"), "".join(lines)
        assert password == (tmp_path / "officer-password").read_text().strip(), "".join(lines)
        assert httpx.get(url + "api/devices", timeout=5).status_code == 401, "no login, no lane"
        client.base_url = httpx.URL(url)
        log_in(client, "officer", password)
        assert client.get("api/me").json()["role"] == "officer"

        def devices() -> dict[str, bool]:
            return {d["id"]: d["online"] for d in client.get("api/devices").json()}

        every_device = {"lock-serial", "lock-mqtt", "empty-box", "uvss", "iris", "scanner"}
        wait_until(lambda: devices() == dict.fromkeys(every_device, True), 60, what=f"every demo device online: {devices()}")
        assert {d["kind"] for d in client.get("api/devices").json()} == {
            "smart_lock", "empty_box", "under_vehicle", "iris", "scanner"}

        trucks = sampler(run=1)  # what a fresh workdir's first run plays (one truck comes back: plates repeat)

        def key(plate: str, declaration_id: str | None) -> str:
            return declaration_id or f"undeclared {plate}"

        wanted = {key(t.plate, None if t.problem == "undeclared" else t.declaration_id) for t in trucks}

        def decided() -> list[dict[str, Any]] | None:
            items = client.get("api/passages?limit=50").json()["items"]
            done = {key(p["plate"], p["declaration_id"]) for p in items if p["state"] not in ("open", "analysing")}
            return items if done >= wanted else None

        items = wait_until(decided, trucks[-1].arrive_s + 30, interval=1.0, what="every truck's passage decided")
        assert sorted(key(p["plate"], p["declaration_id"]) for p in items) == sorted(wanted), \
            "one passage per truck, none stray"
        by_key = {key(p["plate"], p["declaration_id"]): p["id"] for p in items}
        for truck in trucks:
            passage_id = by_key[key(truck.plate, None if truck.problem == "undeclared" else truck.declaration_id)]
            _check_passage(truck, client.get(f"api/passages/{passage_id}").json())
        assert {t.expected_reason for t in trucks} == {None, *(p.code for p in PROBLEMS.values())}
        # the images of the last truck are shown
        shown = {d["id"]: d["state"].get("image_sha256") for d in client.get("api/devices").json()}
        for device_id in ("empty-box", "uvss", "scanner"):
            preview = client.get(f"api/media/{shown[device_id]}/preview?max_px=200")
            assert preview.status_code == 200 and preview.headers["content-type"] == "image/png", device_id
        assert (tmp_path / "edge.toml").is_file() and (tmp_path / "edge.sqlite3").is_file()
        # the hub beside the lane: its people log in, and the lane's flagged passages wait in its queue
        hub = httpx.Client(base_url=printed["hub"], timeout=10)
        assert hub.get("api/v1/queue").status_code == 401
        me = hub.post("api/v1/login", json={"name": "reviewer", "password": printed["reviewer"]})
        assert me.status_code == 200 and me.json()["role"] == "reviewer", me.text
        flagged = {p["id"] for p in items if p["state"] == "flagged"}
        wait_until(lambda: flagged <= {i["passage_id"] for i in hub.get("api/v1/queue").json()["items"]}, 30,
                   what="the lane's flagged passages in the hub's queue")
        supervisor = httpx.post(printed["hub"] + "api/v1/login",
                                json={"name": "supervisor", "password": printed["supervisor"]}, timeout=10)
        assert supervisor.status_code == 200 and supervisor.json()["role"] == "supervisor"
        hub.close()
    finally:
        client.close()
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    assert proc.returncode == 0
    left = subprocess.run(["pgrep", "-f", str(tmp_path)], capture_output=True, text=True).stdout.split()
    assert not left, f"demo left processes running: {left}"
    # the stubs and the private broker went with it: nothing answers on the terminal any more
    with pytest.raises(httpx.TransportError):
        httpx.get(url + "healthz", timeout=1)
    assert time.monotonic() - started < 110, "the demo test keeps within its budget"


def test_the_default_stream_lasts_over_an_hour_and_runs_do_not_share_trucks() -> None:
    vehicles = _trucks(argparse.Namespace(sampler=False, vehicles=None, spacing=None), 1)
    assert vehicles[-1].arrive_s >= 3600
    again = stream(len(vehicles), run=2)
    assert not {v.plate for v in vehicles} & {v.plate for v in again}
    assert not {v.declaration_id for v in vehicles} & {v.declaration_id for v in again}


def test_the_demo_enrols_its_drivers_once_and_the_stub_eye_matches(tmp_path: Path) -> None:
    from edge.kinds.iris.matching import Decision, MatchConfig, match
    from edge.kinds.iris.templates import card_templates
    from edge.store import Store
    from edge.store_schema import store_migrations
    from firmware_stubs.iris_codes import IrisSimulator

    store_path = tmp_path / "edge.sqlite3"
    assert _enrol_drivers(store_path, ["CARD000001", "CARD000002", "CARD000001"]) == 2
    assert _enrol_drivers(store_path, ["CARD000002", "CARD000003"]) == 1   # the enrolled stay as they are
    store = Store(store_path, store_migrations())
    try:
        templates = store.transact(lambda txn: card_templates(txn, "CARD000002"))
    finally:
        store.close()
    assert len(templates) == 2
    eye = IrisSimulator(seed=0).capture("CARD000002")   # the iris stub's seed and way of capturing
    assert match(eye.code, eye.mask, templates, MatchConfig()).decision is Decision.ACCEPT
    other = IrisSimulator(seed=0).capture("CARD000001")
    assert match(other.code, other.mask, templates, MatchConfig()).decision is Decision.REJECT


def test_the_demo_officer_keeps_one_password_per_workdir(tmp_path: Path) -> None:
    from edge.commands.demo import _officer_password

    first = _officer_password(tmp_path, tmp_path / "edge.sqlite3")
    assert _officer_password(tmp_path, tmp_path / "edge.sqlite3") == first, "a restarted demo keeps it"
    assert (tmp_path / "officer-password").stat().st_mode & 0o777 == 0o600
    other = tmp_path / "other"
    other.mkdir()
    assert _officer_password(other, other / "edge.sqlite3") != first
