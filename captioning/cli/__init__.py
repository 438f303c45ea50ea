"""The `captioning` command: flags built from the config dataclasses, one module per concern."""
