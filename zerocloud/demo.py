# Copyright (c) 2026 zerocloud developers
# Licensed under the Apache License, Version 2.0
"""``zerocloud demo``: a MapReduce word count inside Swift, on one machine.

Starts the embedded Swift cluster (:mod:`zerocloud.saio`) in a temporary
directory, uploads a small text corpus (:data:`CORPUS`) to ``data/``,
compiles ``examples/wc_map.c`` and ``examples/wc_reduce.c`` with
``gcc -static`` and uploads them to ``exec/``, and submits one job
(:data:`JOB`): a ``map`` group, one sandbox per text on an object server that
holds it, connected by pipes to a ``reduce`` group of :data:`REDUCERS`
sandboxes, each writing ``counts/reduce-N.txt``.  A mapper sends every word
to one reducer, picked by a hash of the word, so the reducers hold disjoint
sets of words.

It prints the node table (which server ran each node, its status and times),
merges the reducers' outputs into the top words of the whole corpus and a
one-line summary.  Then it opens one output as a web page, the way a
browser would (``GET /open/...``): the outputs are stored as
``text/x-word-counts``, whose job template (:data:`PAGE_TEMPLATE`, in
``.zvm``) runs ``examples/wordpage.c``, a CGI program, on the object.  Then
it stops everything.  A failed job is reported with the proxy's answer and
exit status 1.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import urllib.parse
import urllib.request

from zerocloud import client
from zerocloud.exceptions import ZeroCloudError

__all__ = ['CORPUS', 'JOB', 'REDUCERS', 'TOP', 'COUNTS_TYPE', 'PAGE_TEMPLATE',
           'main', 'example_source', 'merge_counts']

#: The demo corpus: short texts written for zerocloud, one object each.
CORPUS = {
    'storage.txt': (
        'An object store keeps data where it lands. Every object lives on '
        'more than one server, and every server can answer for the objects '
        'it holds. The store is large, the data is heavy, and moving it is '
        'the slow part of every job.\n'),
    'compute.txt': (
        'Compute is cheap and data is heavy. When the data cannot move, the '
        'program must move to the data: a small program, sent to the server '
        'that holds the object, run next to the disk, and only the answer '
        'comes back.\n'),
    'sandbox.txt': (
        'A sandbox is a promise: the program sees its channels and nothing '
        'else. No files, no network, no clock of the host. The same program '
        'on the same data gives the same answer on every server, every '
        'time.\n'),
    'mapreduce.txt': (
        'Map the objects, then reduce the answers. A mapper reads one object '
        'and writes words; a reducer reads the mappers and writes counts. '
        'The job is one request, and the store does the rest.\n'),
    'swift.txt': (
        'A proxy takes the request, a ring says where the objects are, and '
        'the object servers do the work. Replicas keep the data safe; when '
        'one server is down, another replica answers.\n'),
    'pipes.txt': (
        'A pipe joins two programs while both run. The mapper writes to the '
        'pipe and the reducer reads from it, and neither knows the server '
        'at the other end. A pipe is a file to the program and a socket to '
        'the store.\n'),
    'hashing.txt': (
        "Every mapper must send a word to the same reducer, so the choice "
        "is a hash of the word and nothing else: not the host, not the "
        "time, not the run. Each reducer then holds its own words, and no "
        "word is counted twice.\n"),
    'failure.txt': (
        "When one program fails, the job fails: every other program of the "
        "job is stopped, no object is written, and the answer names the "
        "program that failed. A half-done job is worse than none.\n"),
    'limits.txt': (
        'Every sandbox has limits: memory, time, and the bytes it may '
        'write. A program that runs too long is stopped, and the report '
        'says why. Limits keep one job from taking the servers from the '
        'others.\n'),
    'ring.txt': (
        "The ring maps every object to the servers that keep its replicas. "
        "The proxy reads the ring to find the data, and the job goes where "
        "the ring says the data is. Adding a server moves a few objects, "
        "never all of them.\n"),
}

#: How many reducers the job has.
REDUCERS = 3

#: How many words the demo shows.
TOP = 10

#: The content type of the reducers' outputs: opened, they are pages.
COUNTS_TYPE = 'text/x-word-counts'

#: The job that opens a COUNTS_TYPE object (examples/jobs/wordpage.json),
#: stored as .zvm/text/x-word-counts/config.
PAGE_TEMPLATE = [
    {'name': 'page',
     'exec': {'path': 'swift://~/exec/wordpage'},
     'devices': [
         {'name': 'stdin', 'path': 'swift://~{.object_path}'},
         {'name': 'stdout', 'content_type': 'message/cgi'},
         {'name': 'stderr'},
     ]},
]

#: How many rows the opened page shows.
PAGE_ROWS = 3

#: One mapper per text in data/, piped to every reducer; reducer N writes
#: counts/reduce-N.txt (all its words, most frequent first).
JOB = [
    {'name': 'map',
     'exec': {'path': 'swift://~/exec/wc_map'},
     'devices': [
         {'name': 'stdin', 'path': 'swift://~/data/*.txt'},
         {'name': 'stderr'},
     ],
     'connect': ['reduce']},
    {'name': 'reduce',
     'exec': {'path': 'swift://~/exec/wc_reduce'},
     'count': REDUCERS,
     'devices': [
         {'name': 'stdout', 'path': 'swift://~/counts/*.txt',
          'content_type': COUNTS_TYPE},
         {'name': 'stderr'},
     ]},
]

PROGRAMS = ('wc_map', 'wc_reduce', 'wordpage')


def example_source(name):
    """Path of examples/NAME in a checkout, or of the installed copy."""
    here = os.path.dirname(os.path.abspath(__file__))
    for d in (os.path.join(os.path.dirname(here), 'examples'),
              os.path.join(here, 'examples')):
        path = os.path.join(d, name)
        if os.path.exists(path):
            return path
    raise ZeroCloudError('example %s is not installed' % name)


def _compile(src, out):
    try:
        subprocess.run(['gcc', '-static', '-O2', '-o', out, src],
                       check=True, capture_output=True, text=True)
    except FileNotFoundError:
        raise ZeroCloudError('gcc is needed to compile the demo programs')
    except subprocess.CalledProcessError as e:
        raise ZeroCloudError('compiling %s failed:\n%s' % (src, e.stderr))


def merge_counts(outputs):
    """Merge reducer outputs ({name: 'WORD COUNT' lines}) into {word: n}.

    The reducers partition the words, so a word found in two outputs means
    the partition is broken: that is an error, not something to add up.
    """
    counts, owner = {}, {}
    for name, text in sorted(outputs.items()):
        for lineno, line in enumerate(text.splitlines(), 1):
            word, sep, n = line.partition(' ')
            if not sep or not word or not n.isdigit():
                raise ZeroCloudError('%s: line %d is not "WORD COUNT": %r'
                                     % (name, lineno, line))
            if word in owner:
                raise ZeroCloudError('"%s" is in both %s and %s'
                                     % (word, owner[word], name))
            owner[word] = name
            counts[word] = int(n)
    return counts


def _group(node):
    return node.get('group') or node.get('name', '').rsplit('-', 1)[0]


def _placement(nodes):
    """Which groups ran how many nodes on each object server."""
    per = {}
    for n in nodes:
        groups = per.setdefault(n.get('server') or '-', {})
        groups[_group(n)] = groups.get(_group(n), 0) + 1
    width = max([len(s) for s in per] or [0])
    lines = ['\nwhere the nodes ran:']
    for server, groups in sorted(per.items()):
        lines.append('  %s  %s' % (server.ljust(width), '  '.join(
            '%s x%d' % (g, groups[g]) for g in sorted(
                groups, key=lambda g: (g != 'map', g)))))
    return '\n'.join(lines) + '\n'


def _open_page(out, url, token):
    """Store the page template and open counts/reduce-1.txt as a browser
    would; print what came back."""
    import swiftclient
    swiftclient.put_container(url, token, '.zvm')
    swiftclient.put_object(url, token, '.zvm', COUNTS_TYPE + '/config',
                           json.dumps(PAGE_TEMPLATE))
    parts = urllib.parse.urlsplit(url)
    path = '%s/counts/reduce-1.txt?top=%d' % (
        parts.path.replace('/v1/', '/open/', 1), PAGE_ROWS)
    req = urllib.request.Request('%s://%s%s' % (parts.scheme, parts.netloc,
                                                path),
                                 headers={'X-Auth-Token': token})
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            status = '%d %s' % (resp.status, resp.reason)
            ctype = resp.headers.get('Content-Type')
            page = resp.read().decode('utf-8', 'replace')
    except OSError as e:
        raise ZeroCloudError('opening %s failed: %s' % (path, e))
    rows = re.findall(r'<tr><td>(.*?)</td><td>(\d+)</td></tr>', page)
    _say(out, '\nopened as a web page (its type\'s template runs '
         'wordpage, a CGI program):\nGET %s  ->  %s  (%s, %d bytes)\n'
         '  rows: %s'
         % (path, status, ctype, len(page),
            ', '.join('%s %s' % row for row in rows)))


def _say(out, text=''):
    out.write(text + '\n')
    out.flush()


def _failed(out, answer):
    report = answer.report()
    if report:
        text = client.format_failures(report)
    else:
        text = answer.body.decode('utf-8', 'replace')
    if text.strip():
        _say(out, text.strip()[:2000])
    _say(out, 'zerocloud demo: the MapReduce job failed: %d %s'
         % (answer.status, answer.reason))
    return 1


def main(out=None):
    """Run the demo; returns 0 when the job succeeded."""
    import swiftclient
    from zerocloud.saio import Cluster
    out = out or sys.stdout
    tmp = tempfile.mkdtemp(prefix='zerocloud-demo-')
    try:
        for prog in PROGRAMS:
            _compile(example_source(prog + '.c'), os.path.join(tmp, prog))
        _say(out, 'compiled examples/wc_map.c, wc_reduce.c and wordpage.c '
             '(gcc -static)')
        with Cluster() as cluster:
            run_dir = cluster.run_dir
            _say(out, 'started a Swift cluster at %s' % cluster.proxy_url)
            url, token = swiftclient.get_auth(cluster.auth_url,
                                              'test:tester', 'testing')
            for container in ('data', 'exec', 'counts'):
                swiftclient.put_container(url, token, container)
            for name, text in sorted(CORPUS.items()):
                swiftclient.put_object(url, token, 'data', name, text)
            for prog in PROGRAMS:
                with open(os.path.join(tmp, prog), 'rb') as f:
                    swiftclient.put_object(url, token, 'exec', prog, f)
            _say(out, 'uploaded %d texts to data/ and wc_map, wc_reduce, '
                 'wordpage to exec/' % len(CORPUS))
            _say(out, 'job: map (one per data/*.txt) -> pipes -> reduce '
                 '(%d), writing counts/reduce-N.txt' % REDUCERS)
            answer = client.submit(url, token, JOB, json_report=True)
            report = answer.report() or {}
            _say(out, '\nPOST %s  X-Zerovm-Execute: 1.0  ->  %d %s\n'
                 % (url, answer.status, answer.reason))
            nodes = report.get('nodes') or []
            if isinstance(nodes, dict):
                nodes = [dict(v, name=k) for k, v in nodes.items()]
            if nodes:
                out.write(client.format_nodes({'nodes': nodes}))
            if not answer.ok:
                return _failed(out, answer)
            out.write(_placement(nodes))
            outputs = {}
            for i in range(1, REDUCERS + 1):
                obj = 'reduce-%d.txt' % i
                _, body = swiftclient.get_object(url, token, 'counts', obj)
                outputs['counts/' + obj] = body.decode('utf-8')
            counts = merge_counts(outputs)
            ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
            _say(out, '\ntop %d words (merged from %s):'
                 % (TOP, ', '.join(sorted(outputs))))
            for word, n in ranked[:TOP]:
                _say(out, '%6d  %s' % (n, word))
            mappers = sum(1 for n in nodes if _group(n) == 'map')
            reducers = sum(1 for n in nodes if _group(n) == 'reduce')
            _say(out, '\n%d objects, %d mappers, %d reducers, %d distinct '
                 'words, %d words' % (len(CORPUS), mappers, reducers,
                                      len(counts), sum(counts.values())))
            _open_page(out, url, token)
        _say(out, '\nstopped the cluster%s' % (
            '' if os.path.exists(run_dir)
            else '; its run directory is gone'))
        return 0
    except ZeroCloudError as e:
        _say(out, 'zerocloud demo: %s' % e)
        return 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
