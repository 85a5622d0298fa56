"""Vigil's exception tree: every error the project raises derives from `VigilError`."""


class VigilError(Exception):
    """Root of all Vigil errors."""


class ValidationError(VigilError, ValueError):
    """A value does not have the shape, type or range the receiver expects."""


class ConfigError(VigilError):
    """The configuration file cannot be read or does not validate."""


class ModelError(VigilError):
    """A detection or appearance model cannot be found, built or run."""


class SourceError(VigilError):
    """A camera or video source cannot be opened or read."""


class DependencyError(VigilError):
    """A system component Vigil needs (GStreamer, Kafka, ffmpeg) is missing."""


class ServiceError(VigilError):
    """A service Vigil runs (the API server, the simulator) could not start."""
