"""Count the words of a text file: one `word,count` line each, in word order."""

import collections
import re
import sys

source, target = sys.argv[1], sys.argv[2]
with open(source, encoding="utf-8") as handle:
    words = re.findall(r"[a-z']+", handle.read().lower())
counts = collections.Counter(words)
with open(target, "w", encoding="utf-8") as handle:
    for word in sorted(counts):
        handle.write(f"{word},{counts[word]}\n")
