"""Images in: find image files, load them as correctly oriented RGB, turn bad files into ImageError."""
