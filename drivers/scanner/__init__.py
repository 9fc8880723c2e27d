"""The large container scanner: the MQTT notice, the scan file's checks and decoding, DICOS.

See docs/protocols.md. `ScanNotice.from_json` parses a notice; `load_scan(path, notice)`
verifies the file (size, SHA-256, magic, header limits) and decodes it into a `ContainerScan`.
"""

from drivers.scanner.dicos import DICOS_DX_PROCESSING, build_dicos_dx, write_dicos
from drivers.scanner.files import file_name_for, sha256_path, write_into_folder
from drivers.scanner.headers import ImageHeader, ScanRefused, sniff_format
from drivers.scanner.loader import ContainerScan, ScanLimits, load_scan, sha256_file
from drivers.scanner.notice import (
    ScanNotice, ScanNoticeWire, availability_topic, iso6346_check_digit, notice_topic, validate_container_number,
)

__all__ = [
    "DICOS_DX_PROCESSING", "ContainerScan", "ImageHeader", "ScanLimits", "ScanNotice", "ScanNoticeWire",
    "ScanRefused", "availability_topic", "build_dicos_dx", "file_name_for", "iso6346_check_digit", "load_scan",
    "notice_topic", "sha256_file", "sha256_path", "sniff_format", "validate_container_number", "write_dicos",
    "write_into_folder",
]
