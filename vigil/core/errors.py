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


class EdgeRecordingError(VigilError):
    """A segment recorded on an edge node cannot be fetched from it.

    Attributes:
        retry: True when trying again later may succeed (the node is down or busy); False when
            it will not (the node no longer has the segment, or refuses this node's token).
    """

    def __init__(self, message: str, *, retry: bool) -> None:
        super().__init__(message)
        self.retry = retry
