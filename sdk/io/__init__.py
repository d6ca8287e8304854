"""The bottom layer: reading corpora and reading or writing tokenizer files. No torch, no runtime."""
