"""Compression: quantize (int8, int4, ternary) and prune Marian checkpoints before export."""
