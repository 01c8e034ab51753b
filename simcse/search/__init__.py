"""Vector search: the exact torch index, FAISS indexes, quantized indexes, and their files on disk."""
