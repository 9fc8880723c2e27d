"""Device transports (serial, MQTT) and one codec per device: bytes in, typed readings out.

Knows nothing of passages, models or the hub.
"""
