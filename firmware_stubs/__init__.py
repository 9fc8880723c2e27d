"""Device emulators speaking each device's real wire protocol over a pty or MQTT.

May use `drivers` codecs; never imports `edge` or `hub`.
"""
