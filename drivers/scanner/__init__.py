"""The large container scanner: the MQTT notice, the scan file's checks and decoding, DICOS.

See docs/protocols.md. `ScanNotice.from_json` parses a notice; `load_scan(path, notice)`
verifies the file (size, SHA-256, magic, header limits) and decodes it into a `ContainerScan`.
`build_tdr` writes a DICOS Threat Detection Report on an image; `read_dicos` summarises any DICOS file.
"""

from drivers.scanner.dicos import DICOS_DX_PRESENTATION, DICOS_DX_PROCESSING, DICOS_TDR, build_dicos_dx, write_dicos
from drivers.scanner.files import file_name_for, sha256_path, write_into_folder
from drivers.scanner.headers import ImageHeader, ScanRefused, sniff_format
from drivers.scanner.loader import ContainerScan, ScanLimits, load_scan, sha256_file
from drivers.scanner.notice import (
    ScanNotice, ScanNoticeWire, availability_topic, iso6346_check_digit, notice_topic, validate_container_number,
)
from drivers.scanner.tdr import DicosSummary, Threat, build_tdr, read_dicos, write_tdr

__all__ = [
    "DICOS_DX_PRESENTATION", "DICOS_DX_PROCESSING", "DICOS_TDR", "ContainerScan", "DicosSummary", "ImageHeader",
    "ScanLimits", "ScanNotice", "ScanNoticeWire", "ScanRefused", "Threat", "availability_topic", "build_dicos_dx",
    "build_tdr", "file_name_for", "iso6346_check_digit", "load_scan", "notice_topic", "read_dicos", "sha256_file",
    "sha256_path", "sniff_format", "validate_container_number", "write_dicos", "write_into_folder", "write_tdr",
]
