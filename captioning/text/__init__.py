"""Text: the caption tokenizer (nltk, no data downloads) and the word <-> id vocabulary."""
