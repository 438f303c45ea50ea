"""The bottom layer: configs, atomic file writes, devices and process settings. Imports no other layer."""

__version__ = "0.2.0"
