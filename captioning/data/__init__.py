"""Data loaders: COCO (pycocotools), Karpathy-split JSON and Flickr8k, into one record list."""

from .coco import load_coco, make_split, read_karpathy, write_karpathy
from .datasets import ImageRecord, find_shared_coco, load_dataset, select_split
from .flickr8k import load_flickr8k

__all__ = [
    "ImageRecord",
    "find_shared_coco",
    "load_coco",
    "load_dataset",
    "load_flickr8k",
    "make_split",
    "read_karpathy",
    "select_split",
    "write_karpathy",
]
