"""DICOS (NEMA IIC 1) DX images: the writer (scanner stub, `kouan dicos`, the hub's export) and the reader's checks.

A scan is a DICOS "DX for processing" object (SOP class 1.2.840.10008.5.1.4.1.1.501.2.2): the raw
16-bit transmission values, uncompressed little endian. Dual energy is two frames (frame 1 high
energy, frame 2 low energy). An image made for a reviewer (from a PNG or TIFF) is "DX for
presentation" (501.2.1), 8- or 16-bit, with a window. Every attribute written here is a keyword
pydicom's dictionary knows (`pydicom.datadict`), the DICOS ones from group 0x4010; pydicom does not
validate DICOS objects, so the readers check what we rely on ourselves: SOP class, transfer syntax,
bits, unsigned grey samples, Rows/Columns/frames, and that the pixel data lies inside the file.
`open_dicos`, `image_geometry`, `pixel_data_problem` and `read_dicos_pixels` are the one way every
reader here (the scanner's loader, `read_dicos`, the hub's image check) parses a DICOS file.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

import numpy as np
from pydicom import dcmread
from pydicom.datadict import keyword_for_tag
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian, UID, generate_uid

from drivers.scanner.headers import ImageHeader, ScanRefused

DICOS_CT = UID("1.2.840.10008.5.1.4.1.1.501.1")  # DICOS CT Image
DICOS_DX_PRESENTATION = UID("1.2.840.10008.5.1.4.1.1.501.2.1")  # DICOS Digital X-Ray Image - For Presentation
DICOS_DX_PROCESSING = UID("1.2.840.10008.5.1.4.1.1.501.2.2")  # DICOS Digital X-Ray Image - For Processing
DICOS_TDR = UID("1.2.840.10008.5.1.4.1.1.501.3")  # DICOS Threat Detection Report
DICOS_IMAGES = (DICOS_CT, DICOS_DX_PRESENTATION, DICOS_DX_PROCESSING)
DICOS_VERSION = "V02A"  # the DICOS version we write (DICOSVersion, 4010,103A): confirm against NEMA IIC 1
UTF8 = "ISO_IR 192"  # SpecificCharacterSet: plates, names and notes in any script
NATIVE_SYNTAXES = (ExplicitVRLittleEndian, ImplicitVRLittleEndian)
_PIXEL_DATA = 0x7FE00010
_PIXEL_TAGS = frozenset({0x7FE00008, 0x7FE00009, _PIXEL_DATA})  # (Float, Double Float) Pixel Data: left raw


@dataclass(frozen=True)
class DicosGeometry:
    """An image's pixel layout as its Image Pixel module declares it."""

    rows: int
    columns: int
    frames: int
    bits_allocated: int
    bits_stored: int
    samples: int
    representation: int
    photometric: str


def da_tm(moment: datetime) -> tuple[str, str, str]:
    """DICOM DA, TM and the UTC offset ("+0800") of an aware datetime."""
    offset = moment.strftime("%z") or "+0000"
    return moment.strftime("%Y%m%d"), moment.strftime("%H%M%S.%f"), offset


def file_meta(sop_class: UID, instance: UID | None = None) -> FileMetaDataset:
    """File meta for a new instance of `sop_class` (a fresh UID unless given), Explicit VR Little Endian."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = instance or generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    return meta


def build_dicos_dx(planes: Sequence[np.ndarray], *, scan_id: str, scan_time: datetime, device: str,
                   containers: Sequence[str] = (), plate: str | None = None, presentation: bool = False,
                   derivation: str = "") -> Dataset:
    """A DICOS DX dataset holding `planes` (one: single energy; two: high, low).

    For processing (the scanner's raw values) the planes are uint16; for presentation (an image made
    for a reviewer) uint8 or uint16, with a window over the samples' range. `derivation` says how
    the pixels were derived from the source (ImageType DERIVED), e.g. a colour image made grey."""
    if not planes or len(planes) > 2:
        raise ValueError("a DICOS scan holds one plane (single energy) or two (high, low)")
    shape, dtype = planes[0].shape, planes[0].dtype
    allowed = (np.uint8, np.uint16) if presentation else (np.uint16,)
    for plane in planes:
        if plane.dtype not in allowed or plane.dtype != dtype or plane.ndim != 2 or plane.shape != shape:
            kinds = "uint8 or uint16" if presentation else "uint16"
            raise ValueError(f"DICOS planes must be 2-D {kinds} arrays of one shape and type")
    sop = DICOS_DX_PRESENTATION if presentation else DICOS_DX_PROCESSING
    ds = Dataset()
    ds.file_meta = file_meta(sop)
    ds.SpecificCharacterSet = UTF8
    ds.SOPClassUID = sop
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID = generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.Modality = "DX"
    ds.ImageType = ["DERIVED" if derivation else "ORIGINAL", "PRIMARY"]
    if derivation:
        ds.DerivationDescription = derivation[:1024]
    ds.PresentationIntentType = "FOR PRESENTATION" if presentation else "FOR PROCESSING"
    date, time, offset = da_tm(scan_time)
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
    bits = 8 * np.dtype(dtype).itemsize
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = shape
    ds.BitsAllocated = bits
    ds.BitsStored = bits
    ds.HighBit = bits - 1
    ds.PixelRepresentation = 0
    if presentation:
        low = min(int(p.min()) for p in planes)
        high = max(int(p.max()) for p in planes)
        ds.WindowCenter = f"{(low + high) / 2:.1f}"
        ds.WindowWidth = str(max(high - low + 1, 1))
    if len(planes) == 2:
        ds.NumberOfFrames = 2
    little = "<u2" if bits == 16 else "u1"
    ds.PixelData = b"".join(np.ascontiguousarray(p, dtype=little).tobytes() for p in planes)
    return ds


def write_dicos(path: str | Path, planes: Sequence[np.ndarray], **kwargs: object) -> None:
    """Write `build_dicos_dx(planes, **kwargs)` as a DICOM file (preamble, DICM, file meta)."""
    build_dicos_dx(planes, **kwargs).save_as(path, enforce_file_format=True)  # type: ignore[arg-type]


def _parse_all(ds: Dataset) -> None:
    """Convert every element now (pydicom converts on first touch), into sequence items; pixel data left raw."""
    for tag in list(ds.keys()):
        if tag in _PIXEL_TAGS:  # its raw element's offset and length are checked; the pixel reader decodes it
            continue
        try:
            element = ds[tag]
        except Exception as exc:  # pydicom raises many kinds on a damaged element: bad length, unknown VR, ...
            name = f"{tag} {keyword_for_tag(tag)}".rstrip()
            raise ScanRefused("corrupt", f"DICOM element {name} cannot be read: {type(exc).__name__}: {exc}") from None
        if element.VR == "SQ":
            for item in element.value or ():
                _parse_all(item)


def open_dicos(f: BinaryIO) -> Dataset:
    """Parse everything but the pixel data (deferred, so a 60 MB Pixel Data is not read); native syntax only.

    Every element is converted here, so a damaged one is ScanRefused("corrupt") now, not an error
    from pydicom wherever a reader later touches it."""
    f.seek(0)
    try:
        ds = dcmread(f, defer_size=1024)
    except Exception as exc:  # InvalidDicomError, EOFError, struct and value errors, ...
        raise ScanRefused("corrupt", f"DICOM header cannot be read: {exc}") from None
    for dataset in (getattr(ds, "file_meta", None), ds):
        if dataset is not None:
            _parse_all(dataset)
    syntax = ds.file_meta.get("TransferSyntaxUID") if hasattr(ds, "file_meta") else None
    if syntax not in NATIVE_SYNTAXES:
        raise ScanRefused("format", f"DICOM transfer syntax {syntax} is not accepted: a scan is uncompressed "
                                    "little endian")
    return ds


def image_geometry(ds: Dataset) -> DicosGeometry:
    """Rows, Columns, frames, bits and sample layout; ScanRefused("corrupt") when missing or bad."""
    try:
        return DicosGeometry(int(ds.Rows), int(ds.Columns), int(ds.get("NumberOfFrames", 1) or 1),
                             int(ds.BitsAllocated), int(ds.BitsStored), int(ds.SamplesPerPixel),
                             int(ds.PixelRepresentation), str(ds.PhotometricInterpretation))
    except (AttributeError, TypeError, ValueError) as exc:
        raise ScanRefused("corrupt", f"DICOM image pixel attributes missing or bad: {exc}") from None


def pixel_data_problem(ds: Dataset, geometry: DicosGeometry, size: int) -> str:
    """Why the Pixel Data is not what the geometry says or runs past the file's `size` bytes ("" if fine)."""
    element = ds.get_item(_PIXEL_DATA, keep_deferred=True) if _PIXEL_DATA in ds else None
    if element is None:
        return "DICOM has no Pixel Data"
    tell, length = int(getattr(element, "value_tell", 0) or 0), int(getattr(element, "length", -1))
    per_sample = max(geometry.bits_allocated // 8, 1)
    expected = geometry.rows * geometry.columns * geometry.frames * geometry.samples * per_sample
    if length == 0xFFFFFFFF or length != expected + (expected & 1):
        return f"DICOM Pixel Data is {length} bytes, Rows x Columns x frames x {per_sample} = {expected}"
    if tell + length > size:
        return f"DICOM Pixel Data runs to byte {tell + length}, the file has {size}: truncated"
    return ""


def read_dicos_header(f: BinaryIO, size: int) -> ImageHeader:
    """A scan's header (DX for processing, 16-bit unsigned grey), checked, without reading the pixels."""
    ds = open_dicos(f)
    sop = ds.get("SOPClassUID")
    if sop != DICOS_DX_PROCESSING:
        name = UID(str(sop)).name if sop else "none"
        raise ScanRefused("sop_class", f"DICOM SOP class {sop} ({name}) is not DICOS DX for processing "
                                       f"({DICOS_DX_PROCESSING})")
    g = image_geometry(ds)
    if g.bits_allocated != 16 or not 9 <= g.bits_stored <= 16:
        raise ScanRefused("bit_depth", f"DICOM BitsAllocated {g.bits_allocated} / BitsStored {g.bits_stored}: "
                                       "a scan is 16-bit")
    if g.samples != 1 or g.representation != 0 or g.photometric != "MONOCHROME2":
        raise ScanRefused("bit_depth", f"DICOM pixels are {g.samples} sample(s), representation "
                                       f"{g.representation}, {g.photometric}: a scan is unsigned MONOCHROME2")
    cut = pixel_data_problem(ds, g, size)
    return ImageHeader("dicos", g.columns, g.rows, g.bits_allocated, g.samples, g.frames,
                       f"bits stored {g.bits_stored}", cut)


def read_dicos_pixels(path: str | Path) -> tuple[np.ndarray, ...]:
    """The frames of a DICOS image file as 2-D arrays; ScanRefused("decode") when pydicom cannot decode them."""
    from pydicom.pixels import pixel_array

    try:
        array = pixel_array(str(path))
    except Exception as exc:  # pydicom raises many kinds on damaged data
        raise ScanRefused("decode", f"DICOS pixel data cannot be decoded: {exc}") from None
    return tuple(array) if array.ndim == 3 else (array,)
