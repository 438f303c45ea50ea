"""Show-and-Tell image captioning: a pretrained CNN vector initializes an LSTM-family decoder."""

__version__ = "0.1.0"
