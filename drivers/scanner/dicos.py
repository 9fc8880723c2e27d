"""DICOS (NEMA IIC 1) DX images for the container scanner: the writer the stub uses, the header check.

A scan is a DICOS "DX for processing" object (SOP class 1.2.840.10008.5.1.4.1.1.501.2.2): the raw
16-bit transmission values, uncompressed little endian. Dual energy is two frames (frame 1 high
energy, frame 2 low energy). Every attribute written here is a keyword pydicom's dictionary knows
(`pydicom.datadict`), the DICOS ones from group 0x4010; pydicom does not validate DICOS objects, so
the reader checks what the edge relies on itself: SOP class, transfer syntax, 16 bits allocated,
unsigned grey samples, Rows/Columns/frames, and that the pixel data lies inside the file.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

import numpy as np
from pydicom import dcmread
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.errors import InvalidDicomError
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian, UID, generate_uid

from drivers.scanner.headers import ImageHeader, ScanRefused

DICOS_DX_PROCESSING = UID("1.2.840.10008.5.1.4.1.1.501.2.2")  # DICOS Digital X-Ray Image - For Processing
DICOS_VERSION = "V02A"  # the DICOS version we write (DICOSVersion, 4010,103A): confirm against NEMA IIC 1
NATIVE_SYNTAXES = (ExplicitVRLittleEndian, ImplicitVRLittleEndian)
_PIXEL_DATA = 0x7FE00010


def _da_tm(moment: datetime) -> tuple[str, str, str]:
    """DICOM DA, TM and the UTC offset ("+0800") of an aware datetime."""
    offset = moment.strftime("%z") or "+0000"
    return moment.strftime("%Y%m%d"), moment.strftime("%H%M%S.%f"), offset


def build_dicos_dx(planes: Sequence[np.ndarray], *, scan_id: str, scan_time: datetime, device: str,
                   containers: Sequence[str] = (), plate: str | None = None) -> Dataset:
    """A DICOS DX-for-processing dataset holding `planes` (one: single energy; two: high, low)."""
    if not planes or len(planes) > 2:
        raise ValueError("a DICOS scan holds one plane (single energy) or two (high, low)")
    shape = planes[0].shape
    for plane in planes:
        if plane.dtype != np.uint16 or plane.ndim != 2 or plane.shape != shape:
            raise ValueError("DICOS planes must be 2-D uint16 arrays of one shape")
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = DICOS_DX_PROCESSING
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = DICOS_DX_PROCESSING
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID = generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.Modality = "DX"
    ds.ImageType = ["ORIGINAL", "PRIMARY"]
    date, time, offset = _da_tm(scan_time)
    ds.ContentDate, ds.ContentTime = date, time
    ds.AcquisitionDateTime = date + time + offset
    ds.TimezoneOffsetFromUTC = offset
    ds.Manufacturer = "Kouan"
    ds.StationName = device[:16]
    ds.PatientID = scan_id  # DICOS uses the Patient module as the Object of Inspection: OOI ID = scan id
    ds.OOIType = "CARGO"
    ds.DICOSVersion = DICOS_VERSION
    description = ", ".join([*containers, *([f"plate {plate}"] if plate else [])])
    ds.ImageComments = (f"containers/plate: {description}; " if description else "") + \
        ("frame 1 high energy, frame 2 low energy" if len(planes) == 2 else "single energy")
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = shape
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 0
    if len(planes) == 2:
        ds.NumberOfFrames = 2
    ds.PixelData = b"".join(np.ascontiguousarray(p, dtype="<u2").tobytes() for p in planes)
    return ds


def write_dicos(path: str | Path, planes: Sequence[np.ndarray], **kwargs: object) -> None:
    """Write `build_dicos_dx(planes, **kwargs)` as a DICOM file (preamble, DICM, file meta)."""
    build_dicos_dx(planes, **kwargs).save_as(path, enforce_file_format=True)  # type: ignore[arg-type]


def read_dicos_header(f: BinaryIO, size: int) -> ImageHeader:
    """Parse everything but the pixel data (deferred, so a 60 MB value is not read) and check it."""
    f.seek(0)
    try:
        ds = dcmread(f, defer_size=1024)
    except (InvalidDicomError, EOFError, OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ScanRefused("corrupt", f"DICOM header cannot be read: {exc}") from None
    syntax = ds.file_meta.get("TransferSyntaxUID") if hasattr(ds, "file_meta") else None
    if syntax not in NATIVE_SYNTAXES:
        raise ScanRefused("format", f"DICOM transfer syntax {syntax} is not accepted: a scan is uncompressed "
                                    "little endian")
    sop = ds.get("SOPClassUID")
    if sop != DICOS_DX_PROCESSING:
        name = UID(str(sop)).name if sop else "none"
        raise ScanRefused("sop_class", f"DICOM SOP class {sop} ({name}) is not DICOS DX for processing "
                                       f"({DICOS_DX_PROCESSING})")
    try:
        rows, columns = int(ds.Rows), int(ds.Columns)
        allocated, stored = int(ds.BitsAllocated), int(ds.BitsStored)
        samples, representation = int(ds.SamplesPerPixel), int(ds.PixelRepresentation)
        frames = int(ds.get("NumberOfFrames", 1) or 1)
        photometric = str(ds.PhotometricInterpretation)
    except (AttributeError, TypeError, ValueError) as exc:
        raise ScanRefused("corrupt", f"DICOM image pixel attributes missing or bad: {exc}") from None
    if allocated != 16 or not 9 <= stored <= 16:
        raise ScanRefused("bit_depth", f"DICOM BitsAllocated {allocated} / BitsStored {stored}: a scan is 16-bit")
    if samples != 1 or representation != 0 or photometric != "MONOCHROME2":
        raise ScanRefused("bit_depth", f"DICOM pixels are {samples} sample(s), representation {representation}, "
                                       f"{photometric}: a scan is unsigned MONOCHROME2")
    cut = ""
    element = ds.get_item(_PIXEL_DATA, keep_deferred=True) if _PIXEL_DATA in ds else None
    if element is None:
        cut = "DICOM has no Pixel Data"
    else:
        tell, length = int(getattr(element, "value_tell", 0) or 0), int(getattr(element, "length", -1))
        expected = rows * columns * frames * 2
        if length == 0xFFFFFFFF or length != expected + (expected & 1):
            cut = f"DICOM Pixel Data is {length} bytes, Rows x Columns x frames x 2 = {expected}"
        elif tell + length > size:
            cut = f"DICOM Pixel Data runs to byte {tell + length}, the file has {size}: truncated"
    return ImageHeader("dicos", columns, rows, allocated, samples, frames, f"bits stored {stored}", cut)
