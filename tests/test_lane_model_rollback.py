"""A supervisor rolls a device's lane model back from the lane terminal, with real parts: a real
edge over a real Mosquitto, its store, two lane model versions on disk, the HTTP API and Debian's
chromium. Officers see the model but get no button and a 403 from the server; the reason goes
into the device's history; open terminals see the rollback without a reload; the next pass is
analysed by the version rolled back to; a second rollback is refused with the reason. A version
adopted and a rollback made by `kouan model` in another process reach open terminals too."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import httpx

from edge.config import load_config
from edge.normal.lane_models import LaneModels
from tests.browser_harness import chromium
from tests.conftest import Broker
from tests.lane_harness import EdgeThread, ensure_user, login_client, wait_until
from tests.test_lane_normal import Camera, analyses, kouan, lane_model_line
from tests.test_lane_terminal_browser import log_in, shot_path

ROOT = Path(__file__).resolve().parents[1]
SUPERVISOR, SUPERVISOR_PASSWORD = "sup-1", "supervisor-password-1"
ROLLBACK = "/api/devices/uv1/lane-model/rollback"
DEVICE = 'li.device[data-device="uv1"]'
ASK = {"reason": "x", "current": "v2"}


def write_config(tmp: Path, broker: Broker, lane: str) -> Path:
    path = tmp / "lane.toml"
    path.write_text(f"""
[lane]
id = "{lane}"
[store]
path = "edge.sqlite3"
[mqtt]
url = "{broker.url}"
client_id = "kouan-edge-{lane}"
[web]
port = 0
[passages]
deadlines = {{ uv1 = 60 }}
[[devices]]
id = "uv1"
name = "UVSS east"
kind = "under_vehicle"
model = "lane"
[normal]
devices = ["uv1"]
models_dir = "models"
""", encoding="utf-8")
    return path


def adopt(root: Path, n: int) -> None:
    """Version v<n> adopted as a refit would: the shipped under_vehicle graph, its card marked n.0.0."""
    models = LaneModels(root)
    candidate = models.candidate_folder()
    shutil.copyfile(ROOT / "models/under_vehicle/model.onnx", candidate / "model.onnx")
    card = json.loads((ROOT / "models/under_vehicle/card.json").read_text(encoding="utf-8"))
    card.update(name="lane_uv1", version=f"{n}.0.0")
    (candidate / "card.json").write_text(json.dumps(card), encoding="utf-8")
    figures = {"model": f"lane_uv1 {n}.0.0", "clean_flagged_n": 0, "clean_n": 10, "canary_found_n": 6, "canary_n": 6}
    models.adopt(candidate, f"v{n}", {"adopted": True, "fitted_n": 40, "candidate": figures}, keep=5)


def test_a_supervisor_rolls_the_lane_model_back_from_the_terminal_and_an_officer_cannot(
        tmp_path: Path, mosquitto: Broker) -> None:
    lane = f"rollback-{tmp_path.name[-6:]}"
    config_path = write_config(tmp_path, mosquitto, lane)
    config = load_config(config_path)
    models = tmp_path / "models" / "uv1"
    adopt(models, 1)
    adopt(models, 2)
    ensure_user(config.store.path, SUPERVISOR, "supervisor", SUPERVISOR_PASSWORD)
    edge = EdgeThread(config).start()
    camera = Camera(mosquitto, lane)
    supervisor = login_client(edge.url, SUPERVISOR, SUPERVISOR_PASSWORD)
    try:
        # the server checks who asks: no login, an officer, a wrong CSRF token, a bad body, another device
        assert httpx.post(edge.url.rstrip("/") + ROLLBACK, json=ASK).status_code == 401
        assert edge.client is not None
        refused = edge.client.post(ROLLBACK, json=ASK)
        assert (refused.status_code, refused.json()["detail"]) == (403, "this needs a supervisor login")
        assert supervisor.post(ROLLBACK, json=ASK, headers={"X-CSRF-Token": "wrong"}).status_code == 403
        assert supervisor.post(ROLLBACK, json={**ASK, "reason": "   "}).status_code == 422
        assert supervisor.post(ROLLBACK, json={**ASK, "to": "v1"}).status_code == 422
        assert supervisor.post(ROLLBACK, json={"reason": "x"}).status_code == 422  # which version it saw, too
        stale = supervisor.post(ROLLBACK, json={**ASK, "current": "v9"})  # not what runs: nothing rolled back
        assert (stale.status_code, stale.json()["detail"]) == (
            409, "uv1: the current model is v2, not v9 (it changed meanwhile); nothing rolled back")
        with LaneModels(models).locked():  # a refit running: the request says so after a few seconds
            busy = supervisor.post(ROLLBACK, json=ASK, timeout=30)
        assert busy.status_code == 409 and "uv1: a refit of this device's model is running" in busy.json()["detail"]
        other = supervisor.post("/api/devices/lock9/lane-model/rollback", json=ASK)
        assert other.status_code == 404
        assert other.json()["detail"] == "lock9 does not learn its normal here ([normal] devices)"
        assert (models / "current").read_text().strip() == "v2"
        shown = next(d for d in edge.get("/api/devices") if d["id"] == "uv1")["lane_model"]
        assert (shown["runs"], shown["rollback_to"], shown["last_rollback"]) == ("lane v2", "v1", None)

        with chromium() as browser:
            officer_page, supervisor_page = browser.new_page(), browser.new_page()
            log_in(officer_page, edge.url)
            officer_page.evaluate("window.kouanTestNoReload = true")
            log_in(supervisor_page, edge.url, SUPERVISOR, SUPERVISOR_PASSWORD)
            line = "model: lane v2 · 0 clean passes kept · 0 finds"
            lane_model_line(officer_page, "uv1", line)
            lane_model_line(supervisor_page, "uv1", line)
            assert officer_page.locator(f"{DEVICE} .lane-rollback").count() == 0
            button = supervisor_page.locator(f"{DEVICE} .lane-rollback")
            assert button.text_content() == "roll back to v1"
            button.click()
            assert supervisor_page.locator("#rollback-title").text_content() == "Roll UVSS east back to v1?"
            supervisor_page.click("#rollback-ok")  # no reason: asked for one, nothing sent
            assert supervisor_page.locator("#rollback-error").text_content() == "Write why the model goes back."
            assert (models / "current").read_text().strip() == "v2"
            supervisor_page.fill("#rollback-reason", "v2 holds too many trucks")
            assert supervisor_page.locator("#rollback-error").text_content() == ""  # typing clears it
            supervisor_page.screenshot(path=str(shot_path(tmp_path, "lane-model-rollback.png")))
            supervisor_page.keyboard.press("Enter")
            line = "model: lane v1 · 0 clean passes kept · 0 finds"
            hover = lane_model_line(supervisor_page, "uv1", line)
            assert not supervisor_page.locator("#rollback").is_visible()
            assert "rolled back from v2 to v1 0 s ago by supervisor sup-1: v2 holds too many trucks" in hover
            assert supervisor_page.locator(f"{DEVICE} .lane-rollback").count() == 0  # v1 was the first
            supervisor_page.screenshot(path=str(shot_path(tmp_path, "lane-model-rolled-back.png")))
            hover = lane_model_line(officer_page, "uv1", line)  # pushed on the live stream
            assert "by supervisor sup-1" in hover and officer_page.evaluate("window.kouanTestNoReload") is True
            # a phone has no hover: a tap on the model line opens the same details (open across updates)
            phone = browser.new_page(viewport={"width": 360, "height": 740})
            log_in(phone, edge.url)
            phone.click(".devices-toggle")
            more = phone.locator(f"{DEVICE} .lane-model-more")
            assert not more.first.is_visible()
            phone.click(f"{DEVICE} .lane-model")
            assert more.nth(1).is_visible(), more.all_text_contents()
            assert "rolled back from v2 to v1" in more.nth(1).text_content() and "by supervisor sup-1" in \
                more.nth(1).text_content()
            phone.screenshot(path=str(shot_path(tmp_path, "lane-model-details-phone.png")))

            assert (models / "current").read_text().strip() == "v1" and (models / "v2").is_dir()
            last = json.loads((models / "history.jsonl").read_text(encoding="utf-8").splitlines()[-1])
            assert {k: last[k] for k in ("action", "from", "version", "by", "reason")} == {
                "action": "rollback", "from": "v2", "version": "v1", "by": "supervisor sup-1",
                "reason": "v2 holds too many trucks"}
            # the running lane analyses the next pass with v1
            camera.clean("京A20001")
            wait_until(lambda: len(analyses(config.store.path)) == 1, 60, what="an analysis after the rollback")
            assert (analyses(config.store.path)[0]["model"], analyses(config.store.path)[0]["version"]) == (
                "lane_uv1", "1.0.0")
            again = supervisor.post(ROLLBACK, json={"reason": "once more", "current": "v1"})
            assert (again.status_code, again.json()["detail"]) == (
                409, "uv1: v1 is the first lane model kept here; nothing to roll back to")

            # changes made outside the edge (a refit or proposal adopted, a rollback by the command)
            # reach open terminals too, without a reload
            adopt(models, 3)
            lane_model_line(officer_page, "uv1", "model: lane v3 · 0 clean passes kept · 0 finds")
            lane_model_line(supervisor_page, "uv1", "model: lane v3 · 0 clean passes kept · 0 finds")
            lane_model_line(phone, "uv1", "model: lane v3 · 0 clean passes kept · 0 finds")
            assert more.first.is_visible() and "adopted as v3" in more.first.text_content()  # still open
            assert button.text_content() == "roll back to v1"
            proc = kouan("model", "rollback", "--config", str(config_path), "--device", "uv1",
                         "--reason", "v3 misses bundles")
            assert proc.returncode == 0, proc.stderr
            assert json.loads(proc.stdout) == {"device": "uv1", "from": "v3", "current": "v1"}
            hover = lane_model_line(officer_page, "uv1", line)
            assert "rolled back from v3 to v1" in hover and "by kouan model rollback (" in hover
            assert hover.endswith("): v3 misses bundles") and officer_page.evaluate("window.kouanTestNoReload")
    finally:
        supervisor.close()
        camera.close()
        edge.stop()
