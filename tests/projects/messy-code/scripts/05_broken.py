"""A script left half-edited: it does not parse."""

total = 0
for value in [1, 2, 3]  # DEFECT code-does-not-parse
    total += value
print(total)
