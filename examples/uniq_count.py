# Copyright (c) 2026 zerocloud developers
# Licensed under the Apache License, Version 2.0
"""Count the runs of equal lines of a sorted stream, as ``uniq -c`` does,
and print them most frequent first (ties in byte order).

The last stage of examples/jobs/pipeline.json, run by the python system
image's interpreter::

    "exec": {"path": "file://python:/bin/python3", "args": "/dev/input"}

with this script as the node's ``input`` device, and the lines of the
``sort`` stage on its stdin.  Locally::

    zerocloud run --image python=python.tar --input examples/uniq_count.py \\
        --stdin sorted.txt file://python:bin/python3 /dev/input
"""
import itertools
import sys

lines = sys.stdin.buffer
runs = [(len(list(group)), line) for line, group in itertools.groupby(lines)]
runs.sort(key=lambda run: (-run[0], run[1]))
out = sys.stdout.buffer
for count, line in runs:
    out.write(b'%7d %s' % (count, line if line.endswith(b'\n')
                           else line + b'\n'))
