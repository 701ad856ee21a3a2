"""A binary DICOM Segmentation built from the model's masks through highdicom, referencing the source series."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import highdicom as hd
import numpy as np
from pydicom.sr.codedict import codes

from ...core.mask import Mask
from ...version import __version__
from .identity import MANUFACTURER, MODEL, SERIAL, Reference

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ExportSegment:
    """One segment to write."""

    label: str
    mask: Mask
    colour: tuple[int, int, int]
    manual: bool = True


def build_seg(
    reference: Reference, segments: list[ExportSegment], description: str = "lundprobe_gui"
) -> hd.seg.Segmentation:
    """The segmentation object (not yet written). Voxels on planes the series has no slice for are left out."""
    present = reference.present()
    zs = [z for z, _ in present]
    sources = [d for _, d in present]
    shape = segments[0].mask.shape
    pixels = np.zeros((len(zs), shape[1], shape[2], len(segments)), dtype=bool)
    for i, s in enumerate(segments):
        full = s.mask.to_full()
        pixels[..., i] = full[zs]
    algorithm = hd.AlgorithmIdentificationSequence(
        name=MODEL, family=codes.cid7162.ArtificialIntelligence, version=__version__
    )
    descriptions = []
    for i, s in enumerate(segments, start=1):
        descriptions.append(
            hd.seg.SegmentDescription(
                segment_number=i,
                segment_label=s.label[:64],
                segmented_property_category=codes.SCT.AnatomicalStructure,
                segmented_property_type=codes.SCT.Organ,
                algorithm_type=hd.seg.SegmentAlgorithmTypeValues.MANUAL
                if s.manual
                else hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC,
                algorithm_identification=None if s.manual else algorithm,
                display_color=hd.color.CIELabColor.from_rgb(*s.colour),
            )
        )
    first = reference.first
    return hd.seg.Segmentation(
        source_images=sources,
        pixel_array=pixels,
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=descriptions,
        series_instance_uid=hd.UID(),
        series_number=int(first.get("SeriesNumber", 0) or 0) + 950,
        sop_instance_uid=hd.UID(),
        instance_number=1,
        manufacturer=MANUFACTURER,
        manufacturer_model_name=MODEL,
        software_versions=__version__,
        device_serial_number=SERIAL,
        series_description=description[:64],
        content_label="SEGMENTATION",
        omit_empty_frames=True,
    )
