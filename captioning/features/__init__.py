"""Images -> feature vectors: pretrained CNN encoders with the preprocessing they need, batched
extraction and a feature cache that knows when it is stale."""
