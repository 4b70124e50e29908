"""Count the words of a book: `word count` lines, most frequent first."""

import collections
import re
import sys

source, target = sys.argv[1], sys.argv[2]
with open(source, encoding="utf-8") as handle:
    counts = collections.Counter(re.findall(r"[a-z]+", handle.read().lower()))
with open(target, "w", encoding="utf-8") as handle:
    for word, count in sorted(counts.items(), key=lambda item: (-item[1], item[0])):
        handle.write(f"{word} {count}\n")
