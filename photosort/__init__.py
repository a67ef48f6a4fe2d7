"""photosort: an offline desktop photo organizer built on CLIP."""

__version__ = "0.1.0"
