"""The iris reader as a device kind of the edge, end to end with real parts: the reader stub on
MQTT (a real Mosquitto) and on a real pty, the edge (`EdgeThread`), its page API, its MQTT events,
its SQLite store and media folder, and enrolment through `kouan iris enrol`'s function.

Phase 1: three genuine captures of CARD123 over MQTT (each `not_enrolled`), then enrolment from
them. Phase 2, over serial: the holder again (`match`), someone else with the card (`mismatch`),
a blurred half-covered eye (`poor_capture`), an unknown card (`not_enrolled`).
"""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest

from drivers.iris import Capture, encode_message
from drivers.iris.framing import encode_frame
from drivers.iris.messages import AckResult
from edge.cli import main as kouan
from edge.config import ConfigError, EdgeConfig, load_config
from edge.kinds.iris.enrol_store import EnrolError, enrol_card
from edge.kinds.iris.outcome import summary
from edge.media import MediaStore
from firmware_stubs.iris_reader import IrisReaderBase, ReaderConfig, SerialIrisReader, parse_events
from firmware_stubs.iris_reader_mqtt import MqttIrisReader
from tests.conftest import Broker
from tests.lane_harness import EdgeThread, MqttListener, wait_until

LANE = "lane-t"


def iris_lane_config(tmp: Path, mqtt_port: int, link: Path) -> dict[str, Any]:
    return {
        "lane": {"id": LANE, "name": "Iris lane"},
        "store": {"path": str(tmp / "edge.sqlite3")},
        "mqtt": {"url": f"mqtt://127.0.0.1:{mqtt_port}"},
        "web": {"host": "127.0.0.1", "port": 0},
        "kinds": {"iris": {"offline_after_s": 10}},
        "devices": [
            {"id": "iris-s", "kind": "iris", "transport": "serial", "address": str(link)},
            {"id": "iris-m", "kind": "iris", "transport": "mqtt"},
        ],
    }


def reader_config(events: str, seed: int) -> ReaderConfig:
    # A reader resends a capture not acked within ack_timeout_s; on a loaded 2-core machine the edge's
    # ack can take longer than 0.5 s, and the ack of a resend then finds nothing pending
    # (acks_unmatched), which this test counts as a fault. 3 s leaves room for load.
    return ReaderConfig(heartbeat_period_s=0.5, ack_timeout_s=3.0, retries=2, seed=seed, events=parse_events(events))


def device(edge: EdgeThread, device_id: str) -> dict[str, Any]:
    return next(d for d in edge.get("/api/devices") if d["id"] == device_id)


def events_of(edge: EdgeThread, device_id: str) -> list[dict[str, Any]]:
    return [e for e in reversed(edge.get("/api/events?limit=1000")) if e["device_id"] == device_id]


@pytest.fixture
def lane(tmp_path: Path, mosquitto: Broker) -> Iterator[dict[str, Any]]:
    link = tmp_path / "iris-s.tty"
    raw = iris_lane_config(tmp_path, mosquitto.port, link)
    listener = MqttListener(mosquitto.host, mosquitto.port, f"kouan/{LANE}/events/iris")
    edge = EdgeThread(EdgeConfig.model_validate(raw)).start()
    stubs: list[IrisReaderBase] = []
    parts = {"edge": edge, "listener": listener, "stubs": stubs, "link": link, "raw": raw, "tmp": tmp_path}
    try:
        yield parts
    finally:
        for stub in stubs:
            stub.stop()
        edge.stop()
        listener.close()


def publish(broker: Broker, topic: str, payloads: list[bytes]) -> None:
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    client.connect(broker.host, broker.port)
    client.loop_start()
    for payload in payloads:
        client.publish(topic, payload, qos=1).wait_for_publish(5)
    client.disconnect()
    client.loop_stop()


def acks_checked_against_store(stub: IrisReaderBase, db_path: Path, device_id: str) -> list[tuple[int, bool]]:
    """Wrap the stub's ack handler: at each ack, is the capture it acknowledges committed already?"""
    seen: list[tuple[int, bool]] = []
    original = stub.on_ack

    def on_ack(seq: int, result: Any) -> None:
        # Only "stored" acks promise a stored capture. The edge's "refused" ack of the test's own
        # poison capture (seq 900) can reach a reader subscribed after it was sent, on a loaded
        # machine; it acknowledges nothing of this reader's.
        if result is AckResult.STORED:
            with sqlite3.connect(db_path) as db:
                row = db.execute("SELECT 1 FROM readings WHERE device_id=? AND message='capture' "
                                 "AND json_extract(payload_json, '$.seq')=?", (device_id, seq)).fetchone()
            seen.append((seq, row is not None))
        original(seq, result)

    stub.on_ack = on_ack  # type: ignore[method-assign]
    return seen


def test_enrol_then_match_mismatch_poor_and_unknown_card(lane: dict[str, Any], mosquitto: Broker) -> None:
    edge: EdgeThread = lane["edge"]
    listener: MqttListener = lane["listener"]
    db_path = Path(lane["raw"]["store"]["path"])
    # poison first: not JSON, and a capture with a bad field (its seq is readable: refused)
    refusals = MqttListener(mosquitto.host, mosquitto.port, f"kouan/{LANE}/iris-m/ack")
    publish(mosquitto, f"kouan/{LANE}/iris-m/capture", [b"\xff\x00 not json", json.dumps(
        {"seq": 900, "card_id": "CARD123", "time": "2026-01-01T00:00:00+08:00", "eye": "sideways"}).encode()])
    wait_until(lambda: device(edge, "iris-m")["counters"]["bad_messages"] >= 2, 10, what="MQTT poison counted")
    assert device(edge, "iris-m")["counters"]["refused"] == 1
    # the edge's "refused" answer is out before the reader below subscribes to its acks
    refusals.wait_for(lambda p: isinstance(p, dict) and p.get("seq") == 900 and p.get("result") == "refused", 10)
    refusals.close()

    # phase 1, MQTT: three genuine captures of CARD123, not enrolled yet
    m_stub = MqttIrisReader(reader_config("0.1:present=CARD123/genuine,0.2:present=CARD123/genuine,"
                                          "0.3:present=CARD123/genuine", seed=11), mosquitto.url, LANE, "iris-m")
    m_acks = acks_checked_against_store(m_stub, db_path, "iris-m")
    lane["stubs"].append(m_stub)
    m_stub.start()
    wait_until(lambda: len([e for e in events_of(edge, "iris-m") if e["event"] == "not_enrolled"]) == 3, 30,
               what="three not_enrolled events from the MQTT reader")
    wait_until(lambda: m_stub.counters["acks"] == 3 and not m_stub.waiting, 15, what="MQTT captures acknowledged")
    assert device(edge, "iris-m")["summary"] == "card CARD123: not enrolled"
    listener.wait_for(lambda p: p.get("event") == "not_enrolled" and p.get("subject") == "CARD123", 10)

    config = EdgeConfig.model_validate(lane["raw"])
    with pytest.raises(EnrolError, match="3 capture"):
        enrol_card(config, "CARD123", 4, device_id="iris-m", who="officer 7")
    # one capture's code and mask lie where an edge before the private store kept them: still used
    private, served = MediaStore(config.store.private_media_dir), MediaStore(config.store.media_dir)
    with sqlite3.connect(db_path) as db:
        old_code, old_mask = db.execute("SELECT code_sha256, mask_sha256 FROM iris_captures "
                                        "WHERE device_id='iris-m' ORDER BY reading_id LIMIT 1").fetchone()
    for sha in (old_code, old_mask):
        served.put_bytes(private.path(sha).read_bytes())
        private.path(sha).unlink()
    result = enrol_card(config, "CARD123", 3, device_id="iris-m", who="officer 7")
    assert len(result.template_ids) == 3 and len(result.from_readings) == 3 and len(result.agreement) == 3
    wait_until(lambda: any(e["event"] == "enrolled" and e["subject"] == "CARD123" for e in events_of(edge, "iris-m")),
               5, what="the enrolled event on the page's list")

    # phase 2, serial: holder, impostor, poor capture, unknown card
    s_stub = SerialIrisReader(reader_config("0.1:present=CARD123/genuine,0.2:present=CARD123/impostor,"
                                            "0.3:present=CARD999/poor,0.4:present=CARD555/genuine", seed=23),
                              link=lane["link"])
    s_acks = acks_checked_against_store(s_stub, db_path, "iris-s")
    lane["stubs"].append(s_stub)
    s_stub.start()
    wait_until(lambda: len(events_of(edge, "iris-s")) >= 4, 45, what="four events from the serial reader")
    wait_until(lambda: s_stub.counters["acks"] == 4 and not s_stub.waiting, 15, what="serial captures acknowledged")
    by_card = {(e["subject"], e["event"]): e for e in events_of(edge, "iris-s")}
    assert len(events_of(edge, "iris-s")) == 4, "exactly one event per capture, a resend raises none"
    genuine = next(e for (card, name), e in by_card.items() if card == "CARD123" and name == "match")
    impostor = next(e for (card, name), e in by_card.items() if card == "CARD123" and name == "mismatch")
    poor = by_card[("CARD999", "poor_capture")]
    unknown = by_card[("CARD555", "not_enrolled")]
    distance = lambda e: float(re.search(r"distance (\d\.\d+)", e["detail"]).group(1))  # noqa: E731
    assert distance(genuine) <= 0.32 < distance(impostor)
    assert "below the minimum" in poor["detail"] and any(
        word in poor["detail"] for word in ("sharpness", "iris-pupil contrast", "usable iris area"))
    assert unknown["kind"] == "iris" and unknown["device_time"]
    for name, card in (("match", "CARD123"), ("mismatch", "CARD123"), ("poor_capture", "CARD999"),
                       ("not_enrolled", "CARD555")):
        _, topic, message = listener.wait_for(
            lambda p, n=name, c=card: p.get("event") == n and p.get("subject") == c and p.get("device_id") == "iris-s", 10)
        assert topic == f"kouan/{LANE}/events/iris" and message["lane"] == LANE

    # every ack the readers saw came after its capture was committed; none was resent after its ack
    assert m_acks and s_acks and all(stored for _, stored in m_acks + s_acks), (m_acks, s_acks)
    assert m_stub.counters["acks_unmatched"] == 0 and s_stub.counters["acks_unmatched"] == 0
    assert re.match(r"^card CARD\w+: ", device(edge, "iris-s")["summary"])

    # code and mask in the private media store under their SHA-256, which the terminal never serves
    # (not in the device state either); payloads small and without them
    media = MediaStore(config.store.private_media_dir)
    served = MediaStore(config.store.media_dir)
    assert not {"code_sha256", "mask_sha256"} & set(device(edge, "iris-s")["state"])
    with sqlite3.connect(db_path) as db:
        rows = db.execute("SELECT c.code_sha256, c.mask_sha256, r.payload_json FROM iris_captures c "
                          "JOIN readings r ON r.id = c.reading_id").fetchall()
    assert len(rows) == 7
    for code_sha, mask_sha, payload_json in rows:
        for sha in {code_sha, mask_sha} - {old_code, old_mask}:  # those two were moved above
            assert hashlib.sha256(media.path(sha).read_bytes()).hexdigest() == sha
            assert len(media.path(sha).read_bytes()) == 512
            assert not served.has(sha)
            assert edge.client.get(f"/api/media/{sha}").status_code == 404  # type: ignore[union-attr]
        payload = json.loads(payload_json)
        assert len(payload_json) < 2048 and payload["code_sha256"] == code_sha and "code" not in payload


def test_serial_garbage_and_poison_frames_are_counted_and_intake_goes_on(lane: dict[str, Any]) -> None:
    edge: EdgeThread = lane["edge"]
    stub = SerialIrisReader(reader_config("", seed=5), link=lane["link"])
    lane["stubs"].append(stub)
    stub.start()
    wait_until(lambda: device(edge, "iris-s")["online"], 30, what="serial reader online (heartbeats)")
    good = stub.make_capture("CARD42", "genuine")
    frame = bytearray(encode_message(300, good))
    frame[-1] ^= 0xFF                                   # CRC-32 broken
    bad_card = encode_frame(0x01, 301, bytes([1, 0]) + bytes(1100))  # CRC holds, card id length 0
    stub.port.write(b"\x00garbage\xa5" + bytes(frame) + bad_card)
    wait_until(lambda: device(edge, "iris-s")["counters"]["bad_frames_crc"] >= 1
               and device(edge, "iris-s")["counters"]["refused"] >= 1, 10, what="bad frames counted")
    counters = device(edge, "iris-s")["counters"]
    assert counters["bad_bytes"] > 0 and counters["bad_frames_bad_payload"] >= 1
    stub.port.write(encode_message(302, Capture(good.card_id, good.time, good.eye, good.quality, good.code, good.mask)))
    wait_until(lambda: any(e["subject"] == "CARD42" and e["event"] == "not_enrolled" for e in events_of(edge, "iris-s")),
               10, what="a good capture after the poison is still judged")
    assert device(edge, "iris-s")["online"]


def test_bad_iris_config_names_file_and_field(tmp_path: Path) -> None:
    base = '[lane]\nid = "l1"\n\n[[devices]]\nid = "iris-a"\nkind = "iris"\ntransport = "serial"\naddress = "/dev/x"\n'
    for extra, field in ((("baudrate = -5\n"), "devices[0].baudrate"),
                         (("colour = 'blue'\n"), "devices[0].colour"),
                         (("[kinds.iris]\naccept_threshold = 0.7\n"), "kinds.iris.accept_threshold"),
                         (("[kinds.iris]\niris_pupil_ratio_min = 80\n"), "kinds.iris")):
        path = tmp_path / "lane.toml"
        path.write_text(base + extra, encoding="utf-8")
        with pytest.raises(ConfigError) as info:
            load_config(path)
        assert str(path) in str(info.value) and field in str(info.value), str(info.value)
    path.write_text(base.replace('transport = "serial"\naddress = "/dev/x"\n', 'transport = "serial"\n'))
    with pytest.raises(ConfigError, match=r"devices\[0\]: a serial device needs an address"):
        load_config(path)


def test_enrol_command_refuses_with_reasons(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "lane.toml"
    path.write_text('[lane]\nid = "l1"\n[store]\npath = "edge.sqlite3"\n\n[[devices]]\nid = "iris-a"\nkind = "iris"\n'
                    'transport = "mqtt"\n', encoding="utf-8")
    assert kouan(["iris", "enrol", "--config", str(path), "--card", "CARD1", "--from-captures", "2"]) == 2
    assert "card CARD1: 0 capture(s) that passed the quality gate are stored, 2 asked for" in capsys.readouterr().err
    assert kouan(["iris", "enrol", "--config", str(path), "--card", "CARD1", "--device", "nope"]) == 2
    assert "no iris device 'nope'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        kouan(["iris", "enrol", "--help"])
    assert "--from-captures" in capsys.readouterr().out


def test_summary_words() -> None:
    assert summary({"card_id": "CARD123", "outcome": "match", "distance": 0.2134}) == "card CARD123: match 0.21"
    assert summary({"card_id": "CARD999", "outcome": "poor_capture",
                    "failed": ["iris-pupil contrast 12 is below the minimum of 30"]}) == \
        "card CARD999: poor capture (iris-pupil contrast 12 is below the minimum of 30)"
    assert summary({}) == ""
