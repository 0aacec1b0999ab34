"""Hashing stage, video: sample frames of a fetched video (time-based and at scene changes) for PDQ.

OpenCV's bundled FFmpeg reads the bytes from memory (no temporary file: media that does not
match is never written anywhere). Frames are read in order; one is sampled when
``frame_interval_s`` has passed since the last sample, or when the picture changed since the
last sample by more than ``scene_threshold`` (mean absolute difference of standardised 16 x 16
grayscale thumbnails: about 1.1 between unrelated pictures), checked a few times a second. At most ``max_frames``
are sampled and at most ``max_duration_s`` of the video is read. Each sample becomes a
:class:`~hashing.decode.Frame` whose working image is reduced like a still image's, so its PDQ
approximates Meta's reference on the full frame.

Failures are per-item data: a body OpenCV cannot open, or with no video stream, is
``corrupt``; frames over the pixel limit are a ``decompression-bomb``; running past the time
limit keeps the frames sampled so far and reports ``timeout``.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from types import ModuleType

import numpy as np
import numpy.typing as npt
from PIL import Image

from core.optional import require
from hashing.decode import (
    Deadline,
    DecodeFailure,
    Frame,
    MediaDecodeError,
    Raster,
    reduction,
    video_container,
)
from hashing.pdq import Axis

DEFAULT_MAX_BYTES = 512 * 1024 * 1024
DEFAULT_MAX_DURATION_S = 600.0
DEFAULT_MAX_FRAMES = 60
DEFAULT_FRAME_INTERVAL_S = 2.0
DEFAULT_SCENE_THRESHOLD = 0.5
DEFAULT_TIME_LIMIT_S = 60.0
SCENE_CHECKS_PER_S = 4
_THUMB = 16


@dataclass(frozen=True)
class VideoLimits:
    """How a video is sampled, and what is refused.

    Attributes:
        max_bytes: Largest video body to open.
        max_pixels: Largest frame (width x height).
        max_duration_s: Read at most this much of the video.
        max_frames: Sample at most this many frames.
        frame_interval_s: Sample a frame at least this often.
        scene_threshold: Also sample when the picture changed by more than this (0-2, see above).
        working_size: Shorter side the sampled frames keep at least (as for images).
        time_limit_s: Budget for reading one video.
    """

    max_bytes: int = DEFAULT_MAX_BYTES
    max_pixels: int = 80_000_000
    max_duration_s: float = DEFAULT_MAX_DURATION_S
    max_frames: int = DEFAULT_MAX_FRAMES
    frame_interval_s: float = DEFAULT_FRAME_INTERVAL_S
    scene_threshold: float = DEFAULT_SCENE_THRESHOLD
    working_size: int = 256
    time_limit_s: float = DEFAULT_TIME_LIMIT_S

    def __post_init__(self) -> None:
        if min(self.max_bytes, self.max_pixels, self.max_frames) <= 0 or min(
            self.max_duration_s, self.frame_interval_s, self.time_limit_s
        ) <= 0:
            raise ValueError("video limits must be positive")
        if not 0 < self.scene_threshold <= 2:
            raise ValueError("scene_threshold must be in (0, 2]")


def is_video(data: bytes) -> bool:
    """Whether the magic bytes announce a video container."""
    return video_container(data[:512]) is not None


@cache
def _cv2() -> ModuleType:
    # FFmpeg logs each broken file it meets to stderr; these are expected per-item errors.
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
    os.environ.setdefault("OPENCV_LOG_LEVEL", "SILENT")
    cv2 = require("cv2", "hashing")
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
    return cv2


def _raster(gray: npt.NDArray[np.uint8], working_size: int) -> Raster:
    height, width = gray.shape
    image = Image.fromarray(gray, "L")
    factor = reduction(width, height, working_size)
    if factor > 1:
        image = image.reduce(factor)
    return Raster(image, Axis(height, factor), Axis(width, factor))


def _thumbnail(cv2: ModuleType, gray: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
    """A 16 x 16 thumbnail standardised to mean 0 and deviation 1 (flat frames: deviation 1/50).

    Standardised, unrelated pictures differ by about 1.1 on average (two independent normal
    variables), the same shot with noise or a little motion by 0.1-0.3, whatever their
    brightness; raw thumbnails of two unrelated pictures of similar tone differed by only 0.085.
    """
    small = np.asarray(cv2.resize(gray, (_THUMB, _THUMB), interpolation=cv2.INTER_AREA), dtype=np.float32) / 255.0
    result: npt.NDArray[np.float32] = (small - small.mean()) / max(float(small.std()), 0.02)
    return result


def sample_frames(data: bytes, limits: VideoLimits, deadline: Deadline) -> Iterator[Frame]:
    """Yield the sampled frames of a video body, first frame first.

    Raises:
        MediaDecodeError: ``too-large``, ``corrupt``, ``decompression-bomb`` or ``timeout``
            (frames already yielded stay valid).
    """
    container = video_container(data[:512]) or "video"
    if len(data) > limits.max_bytes:
        raise MediaDecodeError(DecodeFailure.TOO_LARGE, f"{len(data)} bytes > video limit {limits.max_bytes}")
    cv2 = _cv2()
    # OpenCV reads through the stream without holding a reference to it: keep one until the
    # capture is released (dropping it early crashed the process in release()).
    stream = io.BytesIO(data)
    capture = cv2.VideoCapture(stream, cv2.CAP_FFMPEG, [])
    try:
        if not capture.isOpened():
            raise MediaDecodeError(DecodeFailure.CORRUPT, f"{container} signature but no readable video stream")
        width = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH))
        height = int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
        if width * height > limits.max_pixels:
            raise MediaDecodeError(
                DecodeFailure.DECOMPRESSION_BOMB,
                f"frames of {width}x{height} = {width * height} pixels > limit {limits.max_pixels}",
            )
        fps = float(capture.get(cv2.CAP_PROP_FPS))
        if not np.isfinite(fps) or not 1.0 <= fps <= 1000.0:
            fps = 25.0  # containers without a usable rate: assume PAL's
        check_every = max(1, round(fps / SCENE_CHECKS_PER_S))
        last_thumb: npt.NDArray[np.float32] | None = None
        last_time = -np.inf
        sampled = 0
        index = 0
        while sampled < limits.max_frames:
            time_s = index / fps
            if time_s > limits.max_duration_s:
                return
            deadline.check(f"frame at {time_s:.1f} s")
            if not capture.grab():
                if index == 0:
                    raise MediaDecodeError(DecodeFailure.CORRUPT, f"{container}: no frame could be decoded")
                return
            due = time_s - last_time >= limits.frame_interval_s
            if due or index % check_every == 0:
                ok, bgr = capture.retrieve()
                if not ok or bgr is None:
                    raise MediaDecodeError(DecodeFailure.CORRUPT, f"{container}: frame {index} undecodable")
                # BT.601 luma, as PDQ's reference computes it
                gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
                thumb = _thumbnail(cv2, gray)
                changed = last_thumb is not None and float(np.abs(thumb - last_thumb).mean()) > limits.scene_threshold
                if due or changed:
                    yield Frame(time_s, _raster(gray, limits.working_size))
                    sampled += 1
                    last_thumb, last_time = thumb, time_s
            index += 1
    finally:
        capture.release()
        stream.close()
