# Copyright (c) 2026 zerocloud developers
# Licensed under the Apache License, Version 2.0
"""``zerocloud demo``: a whole zerocloud run on one machine.

Starts the embedded Swift cluster (:mod:`zerocloud.saio`) in a temporary
directory, uploads a small text corpus, compiles ``examples/wordcount.c``
with ``gcc -static`` and uploads it, submits a per-object job -- one sandbox
per text, each on an object server that holds its text -- and prints the
node table and each output object (``counts/*.count``), then stops
everything.
"""
import os
import shutil
import subprocess
import sys
import tempfile

from zerocloud import client
from zerocloud.exceptions import ZeroCloudError

__all__ = ['CORPUS', 'JOB', 'main', 'example_source']

#: The demo corpus: short texts written for zerocloud.
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
}

#: One sandbox per text: word counts, top 5 words, into counts/*.count.
JOB = [{
    'name': 'count',
    'exec': {'path': 'swift://~/exec/wordcount', 'args': '5'},
    'devices': [
        {'name': 'stdin', 'path': 'swift://~/data/*.txt'},
        {'name': 'stdout', 'path': 'swift://~/counts/*.count',
         'content_type': 'text/plain'},
    ],
}]


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
        raise ZeroCloudError('gcc is needed to compile the demo program')
    except subprocess.CalledProcessError as e:
        raise ZeroCloudError('compiling %s failed:\n%s' % (src, e.stderr))


def _say(out, text=''):
    out.write(text + '\n')
    out.flush()


def main(out=None):
    """Run the demo; returns 0 when the job succeeded."""
    import swiftclient
    from zerocloud.saio import Cluster
    out = out or sys.stdout
    tmp = tempfile.mkdtemp(prefix='zerocloud-demo-')
    try:
        program = os.path.join(tmp, 'wordcount')
        _compile(example_source('wordcount.c'), program)
        _say(out, 'compiled examples/wordcount.c (gcc -static)')
        with Cluster() as cluster:
            run_dir = cluster.run_dir
            _say(out, 'started a Swift cluster at %s' % cluster.proxy_url)
            url, token = swiftclient.get_auth(cluster.auth_url,
                                              'test:tester', 'testing')
            for container in ('data', 'exec', 'counts'):
                swiftclient.put_container(url, token, container)
            for name, text in sorted(CORPUS.items()):
                swiftclient.put_object(url, token, 'data', name, text)
            with open(program, 'rb') as f:
                swiftclient.put_object(url, token, 'exec', 'wordcount', f)
            _say(out, 'uploaded %d texts to data/ and the program to exec/'
                 % len(CORPUS))
            answer = client.submit(url, token, JOB, json_report=True)
            report = answer.report()
            _say(out, '\nPOST %s  X-Zerovm-Execute: 1.0  ->  %d %s\n'
                 % (url, answer.status, answer.reason))
            if report:
                out.write(client.format_nodes(report))
            if not answer.ok:
                _say(out, answer.body.decode('utf-8', 'replace')[:2000])
                return 1
            for name in sorted(CORPUS):
                obj = name[:-len('.txt')] + '.count'
                _, body = swiftclient.get_object(url, token, 'counts', obj)
                _say(out, '\ncounts/%s:' % obj)
                out.write(body.decode('utf-8', 'replace'))
        _say(out, '\nstopped the cluster%s' % (
            '' if os.path.exists(run_dir)
            else '; its run directory is gone'))
        return 0
    except ZeroCloudError as e:
        _say(out, 'zerocloud demo: %s' % e)
        return 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
