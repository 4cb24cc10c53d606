"""stagebox: a backing-track player for the stage, run by buttons alone."""

__version__ = "0.1.0"
