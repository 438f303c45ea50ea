"""The user-facing tools: the `Captioner` API, folder captioning with resumable output files and
overlays. The `captioning` command (cli/) sits on top of them."""
