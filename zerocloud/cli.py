# Copyright (c) 2026 zerocloud developers
# Licensed under the Apache License, Version 2.0
"""The ``zerocloud`` command.

Each verb is a pair of functions: ``_add_<verb>(subparsers)`` declares its
options and ``_cmd_<verb>(args)`` runs it and returns the exit status.
``zerocloud --help`` lists the verbs; ``zerocloud VERB --help`` their options.

Exit statuses shared by every verb: 0 success, 1 a failure the verb reports
(for example an invalid program in ``validate``), 2 bad usage (argparse), and
for ``run`` the ones documented in :mod:`zerocloud.sandbox.runner`.
"""
import argparse
import contextlib
import errno
import os
import sys
import warnings

from zerocloud import __version__

__all__ = ['main', 'build_parser']


def _err(msg):
    sys.stderr.write('zerocloud: %s\n' % msg)


class _OutputError(Exception):
    """Standard output refused what was written (a full disk...)."""


@contextlib.contextmanager
def _output():
    """Writing to standard output: its refusals are _OutputErrors, but a
    reader gone (BrokenPipeError), which :func:`main` handles."""
    try:
        yield
    except BrokenPipeError:
        raise
    except OSError as e:
        raise _OutputError(e.strerror or e) from e


def _write(data):
    """Write text or bytes to standard output."""
    with _output():
        if isinstance(data, bytes):
            sys.stdout.buffer.write(data)
        else:
            sys.stdout.write(data)


def _flush():
    if sys.stdout is not None:
        with _output():
            sys.stdout.flush()


def _discard_stdout():
    """Point standard output at /dev/null, so that Python's flush at exit
    does not fail (and complain) again."""
    try:
        fd = os.open(os.devnull, os.O_WRONLY)
        os.dup2(fd, sys.stdout.fileno())
        os.close(fd)
    except (OSError, ValueError, AttributeError):
        pass


# --- run (sandbox) --------------------------------------------------------

def _add_run(sub):
    from zerocloud.sandbox import runner
    p = sub.add_parser(
        'run', help='run a static x86-64 ELF program (or a #! script, '
        'with --image) in the sandbox',
        description=runner.DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    runner.add_arguments(p)
    # argparse makes a REMAINDER positional required: "required: PROGRAM,
    # ARG" when PROGRAM is missing, although a program needs no ARG.
    for action in p._actions:
        if action.dest == 'args':
            action.required = False


def _cmd_run(args):
    from zerocloud.sandbox import runner
    return runner.main(args)


# --- verbs of later issues are added below, one section each -------------

# --- validate -------------------------------------------------------------

def _add_validate(sub):
    p = sub.add_parser(
        'validate', help='check programs as the sandbox does before a run',
        description='Validate static x86-64 ELF programs: one line per '
        'program, "ok" and a summary or the reason it is refused. Exit '
        'status 0 only if every program is valid.')
    p.add_argument('programs', nargs='+', metavar='PROGRAM')
    p.add_argument('--json', action='store_true',
                   help='print the results as a JSON list')
    p.add_argument('--cache-dir', metavar='DIR',
                   help='remember results in DIR (by sha256)')


def _cmd_validate(args):
    import json
    from zerocloud.exceptions import ValidationError
    from zerocloud.sandbox import validator
    if args.cache_dir:
        why = _unusable_dir(args.cache_dir)
        if why:
            _err('--cache-dir %s: %s' % (args.cache_dir, why))
            return 1
    cache = validator.ValidationCache(directory=args.cache_dir)
    results, status = [], 0
    for path in args.programs:
        try:
            result = validator.validate(path, cache=cache)
        except ValidationError as exc:
            status = 1
            entry = {k: v for k, v in vars(exc).items()
                     if not k.startswith('_')}
            entry.update(path=path, valid=False, error=str(exc))
            results.append(entry)
            if not args.json:
                _write('%s: invalid: %s\n' % (path, exc))
        else:
            results.append(dict(result.to_dict(), path=path, valid=True))
            if not args.json:
                _write('%s: ok %s\n' % (path, result.summary()))
    if args.json:
        _write(json.dumps(results, indent=2, sort_keys=True) + '\n')
    return status


def _unusable_dir(path):
    """Why ``path`` cannot be a directory we write in (made if missing),
    or None."""
    if os.path.exists(path) and not os.path.isdir(path):
        return 'not a directory'
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as e:
        return e.strerror or str(e)
    return None if os.access(path, os.W_OK | os.X_OK) else 'not writable'


# --- plan (dry run of a job) ----------------------------------------------

_PLAN_DESCRIPTION = """\
Expand a job description the way the proxy would and print the plan: every
node with its argv, channels (guest path, direction, object/pipe/response),
attach object and outputs. Nothing runs and nothing is contacted.

Wildcards are expanded against --listing, a JSON object mapping a container
name (or ACCOUNT/CONTAINER) to its object names and an account name to its
container names. Without --listing only jobs without wildcards can be
planned. A bad job prints one line on stderr and exits 1.
"""


def _add_plan(sub):
    parser = sub.add_parser(
        'plan', help='show how a job would be expanded, without running it',
        description=_PLAN_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('job', metavar='JOB.json',
                        help='the job description (a JSON array of groups; '
                        '- for standard input)')
    parser.add_argument('--account', default='AUTH_test', type=_account,
                        help='the caller\'s account, for ~ and . in paths '
                        '(default: %(default)s)')
    parser.add_argument('--listing', metavar='LISTING.json',
                        help='container and account listings to expand '
                        'wildcards against')
    parser.add_argument('--json', action='store_true',
                        help='print the plan as JSON instead of a table')


def _read_input(path):
    """The bytes of the file ``path``, or of standard input for ``-``."""
    if path != '-':
        with open(path, 'rb') as f:
            return f.read()
    if sys.stdin is None:
        raise OSError(errno.EBADF, 'standard input is closed')
    return sys.stdin.buffer.read()


#: What some editors begin a UTF-8 file with; JSON has no place for it.
_BOM = b'\xef\xbb\xbf'


def _read_job(path):
    """A job (description, script or archive) from ``path`` or ``-``,
    without a UTF-8 byte order mark."""
    body = _read_input(path)
    return body[len(_BOM):] if body.startswith(_BOM) else body


def _account(text):
    if not text or '/' in text:
        raise argparse.ArgumentTypeError('%r is not an account name (one '
                                         'path segment, no "/")' % text)
    return text


def _load_listing(path):
    import json
    with open(path, encoding='utf-8') as fp:
        listing = json.load(fp)
    if not isinstance(listing, dict) or not all(
            isinstance(v, list) for v in listing.values()):
        raise ValueError('must be a JSON object of lists of names')
    return listing


def _cmd_plan(args):
    import json
    from zerocloud.exceptions import JobError
    from zerocloud.job import parse_job
    from zerocloud.middleware import planner
    from zerocloud.middleware.plan import format_plan
    try:
        body = _read_job(args.job)
    except OSError as err:
        _err('%s: %s' % (args.job, err.strerror or err))
        return 1
    lister = None
    if args.listing:
        try:
            lister = planner.dict_lister(_load_listing(args.listing))
        except (OSError, ValueError) as err:
            _err('%s: %s' % (args.listing, getattr(err, 'strerror', None)
                             or err))
            return 1
    try:
        job = parse_job(body, args.account)
        if lister is None and planner.needs_listing(job):
            _err('%s: the job has wildcards; give --listing LISTING.json to '
                 'expand them' % args.job)
            return 1
        plan = planner.expand(job, lister)
    except JobError as err:
        _err('%s: %s' % (args.job, err))
        return 1
    if args.json:
        _write(json.dumps(plan.to_dict(), indent=2) + '\n')
    else:
        _write(format_plan(plan))
    return 0

# --- saio (embedded Swift cluster) ----------------------------------------


def _port(text):
    try:
        port = int(text, 10)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError('%r is not a port (0 to 65535)'
                                         % text)
    return port


def _positive_seconds(text):
    value = _seconds(text)
    if not value:
        raise argparse.ArgumentTypeError('%r is not a number of seconds '
                                         '(more than 0)' % text)
    return value


def _seconds(text):
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value < float('inf'):
        raise argparse.ArgumentTypeError('%r is not a number of seconds '
                                         '(0 or more)' % text)
    return value


def _add_saio(sub):
    p = sub.add_parser(
        'saio', help='run a Swift all-in-one on 127.0.0.1 (foreground)',
        description='Run a Swift all-in-one built from etc/*.conf-sample '
        'on 127.0.0.1: proxy, account, container and 3 object servers, '
        'tempauth users test:tester/testing, test2:tester2/testing2 and '
        'test:tester3/testing3.  Prints "ready AUTH_URL" once it serves; '
        'SIGINT or SIGTERM stops it.')
    p.add_argument('--dir', metavar='DIR',
                   help='run directory (configs, rings, devices, logs), '
                   'created if missing and kept; default: a temporary '
                   'directory removed on exit')
    p.add_argument('--port', metavar='N', type=_port, default=8080,
                   help='proxy port; 0 picks a free one (default: 8080)')
    p.add_argument('--images', metavar='DIR',
                   help='the object servers\' system_images_dir: NAME.tar '
                   'per system image (zerocloud image python DIR/python.tar)')


def _cmd_saio(args):
    import signal
    import threading
    from zerocloud import saio

    stopping = threading.Event()
    previous = {signum: signal.signal(signum, lambda *_: stopping.set())
                for signum in (signal.SIGINT, signal.SIGTERM)}
    cluster = None
    try:
        cluster = saio.Cluster(run_dir=args.dir, port=args.port,
                               system_images_dir=args.images)
        cluster.start()
        if not stopping.is_set():
            sys.stdout.write('ready %s\n' % cluster.auth_url)
            sys.stdout.flush()
        while not stopping.wait(0.5):
            dead = cluster.dead_servers()
            if dead:
                _err('%s exited unexpectedly; %s' % (
                    ', '.join(dead), 'logs in %s' % cluster.log_dir
                    if args.dir else 'use --dir to keep the logs'))
                return 1
        return 0
    except saio.ClusterError as e:
        _err(str(e))
        return 1
    except OSError as e:
        # An unusable --dir (not a directory, no permission, ...).
        _err('cannot run the cluster in %s: %s'
             % (args.dir or 'a temporary directory', e))
        return 1
    finally:
        if cluster is not None:
            cluster.stop()
        for signum, handler in previous.items():
            signal.signal(signum, handler)


# --- submit (a job to a cluster) -------------------------------------------

def _add_credentials(p):
    """The swift command's credentials options."""
    p.add_argument('-A', '--auth', help='auth URL (or ST_AUTH)')
    p.add_argument('-U', '--user', help='user (or ST_USER)')
    p.add_argument('-K', '--key', help='key (or ST_KEY)')
    p.add_argument('--os-storage-url', help='(or OS_STORAGE_URL) the '
                   'account\'s URL; with -A/-U/-K, used instead of the auth '
                   'service\'s')
    p.add_argument('--os-auth-token', help='(or OS_AUTH_TOKEN, which -A/-U/-K '
                   'on the command line override)')


def _add_timeout(p):
    """How long to wait for the cluster (and, at most, for the auth)."""
    from zerocloud.client import AUTH_TIMEOUT, TIMEOUT
    p.add_argument('--timeout', type=_positive_seconds, default=TIMEOUT,
                   metavar='SECONDS',
                   help='give up when the cluster does not answer within '
                   'SECONDS (connecting, before the answer begins, and '
                   'between its parts; %d at most for authenticating). '
                   'Default: %%(default)g; a longer job needs --heartbeat '
                   'or more' % AUTH_TIMEOUT)


def _add_submit(sub):
    p = sub.add_parser(
        'submit', help='POST a job description (or a #! script, or an '
        'application archive) to a Swift account',
        description='POST JOB.json to your Swift account with '
        'X-Zerovm-Execute: 1.0 (a file beginning with #! is a script, run '
        'alone by the interpreter its first line names, e.g. '
        '#!/usr/bin/env python3 with the python image; a tar is a ZeroVM '
        'application archive, whose boot/system.map is the job; with '
        '--source, a job or archive stored in Swift runs instead, the file '
        'being the data its stdin reads). '
        'Prints the job\'s stdout body, or a '
        'per-node table from its report; exits 1 when the job failed, '
        'saying why on stderr (each failed node, and the end of its '
        'stderr when the job keeps one). '
        'Credentials as for the swift command.')
    p.add_argument('job', metavar='JOB.json|SCRIPT|APP.tar', nargs='?',
                   help='what to run (- for standard input); with '
                   '--source, the data its path-less stdin reads (- for '
                   'standard input; none: empty)')
    _add_credentials(p)
    _add_timeout(p)
    p.add_argument('--json', action='store_true',
                   help='print the raw JSON report')
    p.add_argument('--dry-run', action='store_true',
                   help='ask for the plan without running anything')
    p.add_argument('--heartbeat', action='store_true',
                   help='keep the connection busy while the job runs (for '
                   'long jobs behind load balancers); the answer is then '
                   'the report, never a stdout body')
    p.add_argument('--deferred', choices=('always', 'auto'),
                   help='let the job run without waiting for it '
                   '(X-Zerovm-Deferred): print the swift:// URL its answer '
                   'will be stored at (auto: unless it ends within the '
                   "proxy's deferred_timeout)")
    p.add_argument('--source', metavar='swift://ACCOUNT/CONTAINER/OBJECT',
                   help='run a stored job description or application '
                   'archive (X-Zerovm-Source, as deployed by zpm): '
                   'swift://~/apps/app.zapp')
    p.add_argument('--object', metavar='CONTAINER/OBJECT',
                   help='POST a #! script to this object of the account: '
                   'it runs next to the object, reading it as its stdin')


def _cmd_submit(args):
    from zerocloud import client
    if args.job is None and not args.source:
        _err('submit: give JOB.json, SCRIPT or APP.tar (or --source)')
        return 2
    try:
        if args.job is None:
            body = b''
        elif args.source:           # data, to be sent as it is
            body = _read_input(args.job)
        else:
            body = _read_job(args.job)
    except OSError as e:
        _err('%s: %s' % (args.job, e.strerror or e))
        return 1
    out = _TailWriter(sys.stdout.buffer)
    try:
        url, token = client.authenticate(
            args.auth, args.user, args.key, args.os_storage_url,
            args.os_auth_token, args.timeout)
        raw = args.json or args.dry_run
        if args.object:
            url = client.object_url(url, args.object)
        answer = client.submit(url, token, body, json_report=raw,
                               dry_run=args.dry_run,
                               stream_to=None if raw else out,
                               heartbeat=args.heartbeat, source=args.source,
                               deferred=args.deferred, timeout=args.timeout)
    except client.ClientError as e:
        _err_after(out, str(e))
        return 1
    return _show_answer(answer, raw, args.json, out)


def _show_answer(answer, raw, as_json, out):
    """Print a job's answer as ``submit`` does; the exit status."""
    from zerocloud import client
    report = answer.report()
    if not answer.ok and report is None and answer.streamed is None \
            and not any(k.startswith('x-nexe-') for k in answer.headers):
        # Refused before anything ran: the proxy's reason, not a job's
        # output (a CGI program's own 404 page comes with X-Nexe-*).
        _err('job failed: %d %s' % (answer.status, answer.reason))
        if answer.status == 401:    # Swift's page says nothing more
            _err('the token may have expired: authenticate again (-A/-U/-K '
                 'or ST_AUTH/ST_USER/ST_KEY, without OS_AUTH_TOKEN)')
            return 1
        sys.stderr.write(client.printable(answer.body.decode(
            'utf-8', 'replace').rstrip('\n'), '\t\n') + '\n')
        retry = answer.headers.get('retry-after')
        if retry:
            _err('try again in %s s (Retry-After)' % retry)
        return 1
    if raw or report is None:
        if answer.streamed is None:     # else written as it came
            out.write(answer.body)
        if out.tail not in (b'', b'\n') and sys.stdout.isatty():
            out.write(b'\n')           # for the prompt; never in a file
        _flush()
    else:
        _write(client.format_nodes(report))
    skipped = client.skipped_nodes(answer, report)
    if answer.ok and skipped:
        # A success, but not every object a wildcard listed was there.
        _err('%d node%s skipped: %s' % (
            skipped, 's' if skipped > 1 else '',
            'their objects had expired or been deleted since the listing'
            if skipped > 1 else
            'its object had expired or been deleted since the listing'))
    if not answer.ok:
        _err('job failed: %d %s' % (answer.status, answer.reason))
        if report is not None and not as_json:
            sys.stderr.write(client.format_failures(report))
        retry = answer.headers.get('retry-after')
        if retry:
            _err('try again in %s s (Retry-After)' % retry)
        return 1
    return 0


def _add_result(sub):
    p = sub.add_parser(
        'result', help='print the answer of a deferred job',
        description='Read the answer a deferred job (zerocloud submit '
        '--deferred) stored at URL, waiting up to --wait seconds for it, '
        'and print it as submit would: the stdout body, or the node table '
        'of its report; exits 1 when the job failed or its answer is not '
        'there.')
    p.add_argument('url', metavar='swift://ACCOUNT/.zvm-deferred/job-ID',
                   help='what submit --deferred printed')
    p.add_argument('--wait', type=_seconds, default=0.0, metavar='SECONDS',
                   help='wait this long for the job to end (default: do '
                   'not wait)')
    p.add_argument('--json', action='store_true',
                   help='print the raw JSON report')
    _add_credentials(p)
    _add_timeout(p)


def _cmd_result(args):
    from zerocloud import client
    out = _TailWriter(sys.stdout.buffer)
    try:
        url, token = client.authenticate(
            args.auth, args.user, args.key, args.os_storage_url,
            args.os_auth_token, args.timeout)
        answer = client.deferred_answer(
            url, token, args.url, args.wait,
            stream_to=None if args.json else out, timeout=args.timeout)
    except client.ClientError as e:
        _err_after(out, str(e))
        return 1
    return _show_answer(answer, args.json, args.json, out)


def _err_after(out, msg):
    """:func:`_err` after a partial answer: on a line of its own when
    stdout, in the same file or terminal as stderr, ended mid-line."""
    if out.tail not in (b'', b'\n'):
        with contextlib.suppress(OSError, _OutputError):
            _flush()
            if _same_file(sys.stdout, sys.stderr):
                sys.stderr.write('\n')
    _err(msg)


def _same_file(a, b):
    try:
        a, b = os.fstat(a.fileno()), os.fstat(b.fileno())
    except (OSError, ValueError, AttributeError):
        return False
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


class _TailWriter:
    """Writes to a binary file, remembering the last byte written."""

    def __init__(self, dest):
        self.dest = dest
        self.tail = b''

    def write(self, data):
        if data:
            with _output():
                self.dest.write(data)
            self.tail = data[-1:]


# --- demo (everything on one machine) ---------------------------------------

def _add_demo(sub):
    sub.add_parser(
        'demo', help='run a MapReduce word count on an embedded Swift '
        'cluster',
        description='Start an embedded Swift cluster in a temporary '
        'directory, upload a small corpus and examples/wc_map.c and '
        'wc_reduce.c compiled with gcc -static, run a mapper per text on an '
        'object server holding it piped to a group of reducers, print the '
        'node table and the top words of the corpus, open one output as a '
        'web page (GET /open/..., examples/wordpage.c answering as a CGI '
        'program), and stop.')


def _cmd_demo(args):
    from zerocloud import demo
    return demo.main()


# --- image (system images) -------------------------------------------------

def _add_image(sub):
    p = sub.add_parser(
        'image', help='build a system image (a read-only tar for the '
        'sandbox)',
        description='Build a system image: python (a static CPython '
        'linked with gcc from Debian\'s libpython3.X-dev, and its standard '
        'library) or lua (a static Lua 5.4 from liblua5.4-dev), in an '
        'uncompressed tar an object server offers to jobs as '
        'file://python:bin/python or file://lua:bin/lua (doc/operator.rst, '
        '"System images").')
    p.add_argument('kind', choices=['python', 'lua'],
                   help='the image to build')
    p.add_argument('out', metavar='OUT.tar', help='where to write it')
    p.add_argument('--python-version', metavar='X.Y',
                   help='python: the Python to package (default: this '
                   'one\'s)')
    p.add_argument('--libpython', metavar='PATH',
                   help='python: libpythonX.Y.a (default: Debian\'s)')
    p.add_argument('--liblua', metavar='PATH',
                   help='lua: liblua5.X.a (default: Debian\'s 5.4)')
    p.add_argument('--include', metavar='DIR',
                   help='the directory of Python.h or lua.h (default: '
                   'Debian\'s)')
    p.add_argument('--stdlib', metavar='DIR',
                   help='python: the standard library (default: Debian\'s)')
    p.add_argument('--cc', default='gcc', help='the C compiler')


def _cmd_image(args):
    from zerocloud import images
    why = _unwritable(args.out)
    if why:
        _err('%s: %s' % (args.out, why))
        return 1
    tmp = args.out + '.tmp'         # where images.write_tar writes first
    ours = not os.path.lexists(tmp)
    try:
        if args.kind == 'lua':
            out = images.build_lua(args.out, liblua=args.liblua,
                                   include=args.include, cc=args.cc)
        else:
            out = images.build_python(args.out, args.python_version,
                                      args.libpython, args.include,
                                      args.stdlib, args.cc)
    except images.ImageBuildError as exc:
        _err(str(exc))
        return 1
    except OSError as exc:
        if ours and os.path.lexists(tmp):
            os.unlink(tmp)
        _err('%s: %s' % (args.out, exc.strerror or exc))
        return 1
    _write('%s: %d bytes\n' % (out, os.path.getsize(out)))
    return 0


def _unwritable(path):
    """Why a file cannot be written at ``path``, or None."""
    if os.path.isdir(path):
        return 'is a directory'
    parent = os.path.dirname(path) or '.'
    if not os.path.isdir(parent):
        return 'no such directory: %s' % parent
    return None if os.access(parent, os.W_OK | os.X_OK) else (
        'cannot write in %s' % parent)


def build_parser():
    parser = argparse.ArgumentParser(
        prog='zerocloud',
        description='Deterministic sandboxed compute inside OpenStack Swift.')
    parser.add_argument('--version', action='version',
                        version='zerocloud %s' % __version__)
    sub = parser.add_subparsers(dest='command', metavar='COMMAND')
    sub.required = True
    _add_run(sub)
    _add_validate(sub)
    _add_plan(sub)
    _add_saio(sub)
    _add_submit(sub)
    _add_result(sub)
    _add_demo(sub)
    _add_image(sub)
    return parser


COMMANDS = {
    'run': _cmd_run,
    'validate': _cmd_validate,
    'plan': _cmd_plan,
    'saio': _cmd_saio,
    'submit': _cmd_submit,
    'result': _cmd_result,
    'demo': _cmd_demo,
    'image': _cmd_image,
}


def main(argv=None):
    # Swift imports dnspython, whose import warns (to stderr, on every
    # command) when cryptography is newer than it: not the user's concern.
    warnings.filterwarnings('ignore', module=r'dns\.')
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:
        if args.command == 'run':
            _err('run: unrecognized arguments: %s' % ' '.join(extra))
            from zerocloud.sandbox.runner import EXIT_ERROR
            return EXIT_ERROR
        parser.error('unrecognized arguments: %s' % ' '.join(extra))
    if sys.stdout is None and args.command != 'run':
        _err('standard output is closed (>/dev/null discards it)')
        return 1
    try:
        status = COMMANDS[args.command](args)
        _flush()
        return status
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (`zerocloud demo | head`): not an error of
        # ours; keep Python from complaining again while exiting.
        _discard_stdout()
        return 141
    except _OutputError as e:
        _err('cannot write to standard output: %s' % e)
        _discard_stdout()
        return 1
    except OSError as e:
        if args.command == 'run':   # its exit statuses are its own
            raise
        _err(str(e))    # one a verb did not expect: no traceback either
        _discard_stdout()
        return 1


if __name__ == '__main__':
    sys.exit(main())
