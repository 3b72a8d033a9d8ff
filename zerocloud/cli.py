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
                print('%s: invalid: %s' % (path, exc))
        else:
            results.append(dict(result.to_dict(), path=path, valid=True))
            if not args.json:
                print('%s: ok %s' % (path, result.summary()))
    if args.json:
        print(json.dumps(results, indent=2, sort_keys=True))
    return status


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
    return parser


COMMANDS = {
    'run': _cmd_run,
    'validate': _cmd_validate,
}


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except KeyboardInterrupt:
        return 130


if __name__ == '__main__':
    sys.exit(main())
