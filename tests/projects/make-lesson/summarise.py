"""The most frequent word of each book, one line each."""

import sys

for path in sys.argv[1:]:
    with open(path, encoding="utf-8") as handle:
        word, count = handle.readline().split()
    print(f"{path} {word} {count}")
