"""SentEval-compatible evaluation (STS and transfer tasks) of sentence encoders."""
