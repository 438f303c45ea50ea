"""Captions drawn: matplotlib figures of images with their captions, n-best lists and references."""
