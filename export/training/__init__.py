"""Training Marian-architecture translation models on two CPU cores (or more).

``train_model(TrainConfig(...))`` reads parallel text, trains a joint
SentencePiece model (byte fallback: no input ever becomes <unk>), trains the
model with checkpoints that survive ``kill -9``, and writes a Hugging Face
Marian checkpoint that ``MarianMTModel``/``MarianTokenizer`` load unchanged.
"""
