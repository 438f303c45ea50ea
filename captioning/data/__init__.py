"""Data sets in: COCO (pycocotools), Karpathy-split JSON and Flickr8k, all as ImageRecord lists,
and the tensors that training batches."""
