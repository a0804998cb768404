"""The mosquitto fixture every MQTT test builds on: a real broker, real round trips."""

from __future__ import annotations

import threading

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from tests.conftest import Broker


def test_broker_round_trip(mosquitto: Broker) -> None:
    got: list[bytes] = []
    done = threading.Event()
    subscribed = threading.Event()

    def on_message(_c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        got.append(msg.payload)
        done.set()

    sub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="t-sub")
    sub.on_message = on_message
    sub.on_subscribe = lambda *_a: subscribed.set()
    sub.connect("127.0.0.1", mosquitto.port)
    sub.subscribe("officeguard/test/#", qos=1)
    sub.loop_start()
    assert subscribed.wait(5)
    pub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="t-pub")
    pub.connect("127.0.0.1", mosquitto.port)
    pub.loop_start()
    pub.publish("officeguard/test/alerts/high", "ゲストWi-Fi".encode(), qos=1).wait_for_publish(5)
    assert done.wait(5)
    assert got == ["ゲストWi-Fi".encode()]
    for c in (sub, pub):
        c.loop_stop()
        c.disconnect()


def test_broker_stops_and_restarts(mosquitto: Broker) -> None:
    c = mqtt.Client(CallbackAPIVersion.VERSION2)
    assert c.connect("127.0.0.1", mosquitto.port) == 0
    c.disconnect()
    mosquitto.stop()
    c2 = mqtt.Client(CallbackAPIVersion.VERSION2)
    try:
        c2.connect("127.0.0.1", mosquitto.port)
        refused = False
    except OSError:
        refused = True
    assert refused
    mosquitto.start()
    assert c2.connect("127.0.0.1", mosquitto.port) == 0
    c2.disconnect()
