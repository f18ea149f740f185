"""Finalise, in place, a FLAC file whose writer never closed it (a kill -9, a crash, a disk that filled up).

Such a file has every frame the encoder wrote, maybe a partial last frame, and a STREAMINFO that still says
"length unknown" (0), which libsndfile reads as 2^63-1 frames and refuses. Finalising keeps the complete frames,
cuts the partial one and writes their sample count into STREAMINFO. In place, because the disk may be full:
no second copy, and the file only shrinks. (The MD5 stays 0, which FLAC defines as "not computed".)
"""

from __future__ import annotations

import mmap
import os
from dataclasses import dataclass
from pathlib import Path

FLAC_MAGIC = b"fLaC"
STREAMINFO_OFFSET = 8  # after "fLaC" and the first metadata block's 4-byte header
TOTAL_SAMPLES_OFFSET = STREAMINFO_OFFSET + 10  # 8 bytes: 20 bits rate | 3 channels | 5 bps | 36 total samples
TOTAL_SAMPLES_MASK = (1 << 36) - 1


class FlacFinaliseError(ValueError):
    """Not a FLAC stream this module can finalise (no magic, no STREAMINFO)."""


@dataclass(frozen=True)
class FlacLayout:
    header_total_samples: int  # what STREAMINFO says (0: unknown)
    frames: int  # complete FLAC frames (blocks of samples, not sample frames)
    samples: int  # samples per channel in the complete frames
    end_offset: int  # where the last complete frame ends
    file_bytes: int

    @property
    def finalised(self) -> bool:
        return self.header_total_samples == self.samples and self.end_offset == self.file_bytes


def scan_flac(path: Path) -> FlacLayout:
    """Walk the file's frames: each frame header is found by its sync code and checked (CRC-8, the expected
    frame number), so audio bytes that look like a sync code are skipped; the last frame counts only if its
    CRC-16 holds (a write cut short by a full disk or a kill)."""
    with open(path, "rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        if size < STREAMINFO_OFFSET + 34 or handle.read(4) != FLAC_MAGIC:
            raise FlacFinaliseError(f"{path}: not a FLAC file")
        data = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
    try:
        if data[4] & 0x7F != 0:
            raise FlacFinaliseError(f"{path}: no STREAMINFO block")
        total = int.from_bytes(data[TOTAL_SAMPLES_OFFSET:TOTAL_SAMPLES_OFFSET + 8], "big") & TOTAL_SAMPLES_MASK
        offset = 4
        while True:  # the metadata blocks: last-flag | type, then a 24-bit length
            if offset + 4 > size:
                return FlacLayout(total, 0, 0, size, size)  # cut inside the metadata: no audio at all
            is_last = data[offset] & 0x80
            offset += 4 + int.from_bytes(data[offset + 1:offset + 4], "big")
            if is_last:
                break
        first = _parse_header(data, min(offset, size), 0, None)
        if first is None:
            return FlacLayout(total, 0, 0, min(offset, size), size)
        frames, samples, start, header = 0, 0, offset, first
        while True:
            following = _next_header(data, start + header.length, frames + 1, samples + header.block_samples, first)
            if following is None:  # `start` holds the last frame: complete only if its CRC-16 holds
                if _crc16(data, start, size - 2) == int.from_bytes(data[size - 2:size], "big"):
                    return FlacLayout(total, frames + 1, samples + header.block_samples, size, size)
                return FlacLayout(total, frames, samples, start, size)
            frames += 1
            samples += header.block_samples
            start, header = following
    finally:
        data.close()


def finalise_flac(path: Path) -> int:
    """Make `path` a complete FLAC file every reader accepts, in place; returns its samples per channel
    (0: not one complete frame, and the file stays unreadable: there is nothing in it to keep)."""
    layout = scan_flac(path)
    if layout.finalised:
        return layout.samples
    with open(path, "r+b") as handle:
        handle.seek(TOTAL_SAMPLES_OFFSET)
        packed = int.from_bytes(handle.read(8), "big")
        handle.seek(TOTAL_SAMPLES_OFFSET)
        handle.write(((packed & ~TOTAL_SAMPLES_MASK) | layout.samples).to_bytes(8, "big"))
        handle.truncate(layout.end_offset)
        handle.flush()
        os.fsync(handle.fileno())
    return layout.samples


def flac_total_samples(path: Path) -> int | None:
    """STREAMINFO's sample count (0: unknown, the writer never finished); None when not a FLAC file."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(TOTAL_SAMPLES_OFFSET + 8)
    except OSError:
        return None
    if len(head) < TOTAL_SAMPLES_OFFSET + 8 or head[:4] != FLAC_MAGIC:
        return None
    return int.from_bytes(head[TOTAL_SAMPLES_OFFSET:], "big") & TOTAL_SAMPLES_MASK


# --- frame headers (FLAC format specification, "FRAME_HEADER") ------------------------------------------------


@dataclass(frozen=True)
class _Header:
    length: int  # bytes, CRC-8 included
    block_samples: int
    variable: bool  # variable block size: the header counts samples, not frames
    codes: tuple[int, int, int]  # rate code, channel count, sample size code: constant in one stream


def _next_header(data: mmap.mmap, search_from: int, frame_number: int, sample_number: int,
                 first: _Header) -> tuple[int, _Header] | None:
    sync = b"\xff\xf9" if first.variable else b"\xff\xf8"
    expected = sample_number if first.variable else frame_number
    position = data.find(sync, search_from)
    while position != -1:
        header = _parse_header(data, position, expected, first)
        if header is not None:
            return position, header
        position = data.find(sync, position + 1)
    return None


def _parse_header(data: mmap.mmap, offset: int, expected_number: int, first: _Header | None) -> _Header | None:
    """The frame header at `offset`, or None when these bytes are not the header expected there."""
    end = len(data)
    if offset + 6 > end or data[offset] != 0xFF or data[offset + 1] not in (0xF8, 0xF9):
        return None
    variable = data[offset + 1] == 0xF9
    size_code, rate_code, layout = data[offset + 2] >> 4, data[offset + 2] & 0x0F, data[offset + 3]
    if size_code == 0 or rate_code == 15 or layout >> 4 > 10 or layout & 1:
        return None
    # The channel assignment may change frame to frame (independent, left/side, mid/side...), its count may not.
    codes = (rate_code, (layout >> 4) + 1 if layout >> 4 < 8 else 2, (layout >> 1) & 0x07)
    if first is not None and (variable != first.variable or codes != first.codes):
        return None
    position = offset + 4
    lead = data[position]
    extra = next((n for n, mask in enumerate((0x80, 0xE0, 0xF0, 0xF8, 0xFC, 0xFE, 0xFF)) if lead & mask ==
                  (mask << 1) & 0xFF), None)  # UTF-8-style: 0xxxxxxx, 110xxxxx + 1, ... 11111110 + 6
    if extra is None or position + 1 + extra > end:
        return None
    number = lead & (0x7F >> extra) if extra else lead
    for index in range(1, extra + 1):
        byte = data[position + index]
        if byte & 0xC0 != 0x80:
            return None
        number = (number << 6) | (byte & 0x3F)
    position += 1 + extra
    if number != expected_number:
        return None
    if size_code == 6:
        block_samples, position = (data[position] + 1 if position < end else 0), position + 1
    elif size_code == 7:
        block_samples, position = int.from_bytes(data[position:position + 2], "big") + 1, position + 2
    elif size_code == 1:
        block_samples = 192
    elif size_code <= 5:
        block_samples = 576 << (size_code - 2)
    else:
        block_samples = 256 << (size_code - 8)
    position += {12: 1, 13: 2, 14: 2}.get(rate_code, 0)
    if position >= end or _crc8(data, offset, position) != data[position]:
        return None
    return _Header(position + 1 - offset, block_samples, variable, codes)


def _table(polynomial: int, bits: int) -> tuple[int, ...]:
    top, mask = 1 << (bits - 1), (1 << bits) - 1
    table = []
    for byte in range(256):
        crc = byte << (bits - 8)
        for _ in range(8):
            crc = ((crc << 1) ^ polynomial) & mask if crc & top else (crc << 1) & mask
        table.append(crc)
    return tuple(table)


_CRC8 = _table(0x07, 8)
_CRC16 = _table(0x8005, 16)


def _crc8(data: mmap.mmap, start: int, stop: int) -> int:
    crc = 0
    for byte in data[start:stop]:
        crc = _CRC8[crc ^ byte]
    return crc


def _crc16(data: mmap.mmap, start: int, stop: int) -> int:
    crc = 0
    for byte in data[start:max(start, stop)]:
        crc = ((crc << 8) & 0xFFFF) ^ _CRC16[(crc >> 8) ^ byte]
    return crc
