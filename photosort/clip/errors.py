"""Typed errors of the CLIP engine. Each message is meant to be shown to a user as it is."""


class ClipError(Exception):
    """Base of every error the CLIP engine raises on purpose."""


class CheckpointError(ClipError):
    """A file could not be read as a CLIP checkpoint."""


class ModelNotFoundError(ClipError):
    """A model name is unknown, or its file is absent and could not be downloaded."""


class DownloadError(ClipError):
    """A download failed; a partial file is kept so the next try resumes."""


class ChecksumError(DownloadError):
    """A downloaded or cached file does not have the published checksum."""


class TextTooLongError(ClipError, ValueError):
    """A text does not fit the model's context length and truncation was not asked for."""


class NeedsTorchError(CheckpointError):
    """A checkpoint in a format only torch reads (a pre-2019 pickle, an archive from a big-endian machine): the
    numpy text tower cannot read it, the full model can."""
