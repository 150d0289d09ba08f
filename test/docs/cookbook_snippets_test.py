#!/usr/bin/python3
"""Each ```cpp snippet of docs/cookbook.md appears, line for line (indentation aside), in
docs/examples/cookbook.cpp, which the tests build and run: the page shows tested code only.
Usage: cookbook_snippets_test.py COOKBOOK_MD COOKBOOK_CPP"""
import re
import sys

page, source = (open(path).read() for path in sys.argv[1:3])
code = [line.strip() for line in source.splitlines()]
snippets = re.findall(r"```cpp\n(.*?)```", page, re.S)
missing = 0
for i, snippet in enumerate(snippets, 1):
    lines = [line.strip() for line in snippet.strip("\n").splitlines()]
    found = any(code[at:at + len(lines)] == lines for at in range(len(code) - len(lines) + 1))
    print(f"{'ok  ' if found else 'FAIL'} snippet {i}: {lines[0][:70]}")
    missing += not found
if not snippets:
    sys.exit("FAIL: the cookbook has no ```cpp snippets")
print(f"{len(snippets) - missing} of {len(snippets)} snippets are in {sys.argv[2]}")
sys.exit(1 if missing else 0)
