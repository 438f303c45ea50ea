"""Features -> words: the LSTM-family cells, the Show-and-Tell decoder, decoding (greedy, beam,
sampling, ensembles) and checkpoints."""
