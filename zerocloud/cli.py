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
import sys

from zerocloud import __version__

__all__ = ['main', 'build_parser']


def _err(msg):
    sys.stderr.write('zerocloud: %s\n' % msg)


# --- run (sandbox) --------------------------------------------------------

def _add_run(sub):
    from zerocloud.sandbox import runner
    runner.add_arguments(sub.add_parser(
        'run', help='run a static x86-64 ELF program in the sandbox',
        description=runner.DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter))


def _cmd_run(args):
    from zerocloud.sandbox import runner
    return runner.main(args)


# --- verbs of later issues are added below, one section each -------------


def build_parser():
    parser = argparse.ArgumentParser(
        prog='zerocloud',
        description='Deterministic sandboxed compute inside OpenStack Swift.')
    parser.add_argument('--version', action='version',
                        version='zerocloud %s' % __version__)
    sub = parser.add_subparsers(dest='command', metavar='COMMAND')
    sub.required = True
    _add_run(sub)
    return parser


COMMANDS = {
    'run': _cmd_run,
}


def main(argv=None):
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:
        if args.command == 'run':
            _err('run: unrecognized arguments: %s' % ' '.join(extra))
            from zerocloud.sandbox.runner import EXIT_ERROR
            return EXIT_ERROR
        parser.error('unrecognized arguments: %s' % ' '.join(extra))
    try:
        return COMMANDS[args.command](args)
    except KeyboardInterrupt:
        return 130


if __name__ == '__main__':
    sys.exit(main())
