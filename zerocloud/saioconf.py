# Copyright (c) 2026 zerocloud developers
# Licensed under the Apache License, Version 2.0
"""What the embedded Swift all-in-one (:mod:`zerocloud.saio`) runs from.

Everything written into a cluster's run directory, and the one piece of
code its generated configuration plugs in; starting and hosting the servers
is :mod:`zerocloud.saio`'s part.  Every public name here is also importable
from :mod:`zerocloud.saio`, which is the address to use.

Server configurations: the proxy and object server configurations are built
from the operator samples ``etc/proxy-server.conf-sample`` and
``etc/object-server.conf-sample`` (:func:`render_config`): every section and
option comes from the sample except the few the run must change
(:data:`PROXY_OVERRIDES`, :data:`OBJECT_OVERRIDES`), so the samples cannot
drift from what the tests run.  The memcache filter is replaced by
:class:`MemoryCache` (:func:`cache_filter_factory`, named in the generated
proxy configuration as ``zerocloud.saio:cache_filter_factory``); production
uses memcached.  ``use = egg:zerocloud#NAME`` lines become
``paste.filter_factory = MODULE:FUNCTION`` (:func:`own_entry_points`,
:func:`resolve_own_eggs`), so a checkout that is not installed (no entry
points) runs the samples too.  Account and container server configurations
are generated here: zerocloud adds nothing to them.

Rings (:func:`build_ring`): one device per server, each in its own zone,
rebalanced with a fixed seed (:data:`RING_SEED`), so placement is the same
from run to run.  ``swift.conf`` carries a fixed hash path prefix and
suffix (:data:`HASH_PATH_PREFIX`, :data:`HASH_PATH_SUFFIX`), so data in a
kept run directory stays where the rings say it is.
"""
import configparser
import importlib.metadata
import json
import os
import time
import tomllib

from zerocloud.exceptions import ZeroCloudError

__all__ = ['ClusterError', 'MemoryCache', 'cache_filter_factory',
           'render_config', 'own_entry_points', 'resolve_own_eggs',
           'build_ring', 'RING_SEED', 'PART_POWER', 'OBJECT_REPLICAS',
           'EC_POLICY', 'EC_TYPE', 'EC_DATA_FRAGMENTS', 'EC_PARITY_FRAGMENTS',
           'EC_SERVERS',
           'HASH_PATH_PREFIX', 'HASH_PATH_SUFFIX', 'SAMPLE_DIR',
           'PROXY_OVERRIDES', 'OBJECT_OVERRIDES',
           'PROXY_REPLACED_SECTIONS', 'OWN_EGG']

#: Seed of every ring's rebalance: placement is the same from run to run.
RING_SEED = 5
#: Partition power of every ring (64 partitions).
PART_POWER = 6
#: Replicas of the object ring (fewer if there are fewer object servers).
OBJECT_REPLICAS = 2
#: Name of the erasure-coded storage policy (index 1) of a cluster with at
#: least :data:`EC_SERVERS` object servers; its ring is
#: ``object-1.ring.gz``, one fragment per server.
EC_POLICY = 'ec'
#: Its scheme: liberasurecode's own Reed-Solomon (no ISA-L needed), two
#: data fragments and one parity fragment.
EC_TYPE = 'liberasurecode_rs_vand'
EC_DATA_FRAGMENTS = 2
EC_PARITY_FRAGMENTS = 1
EC_SERVERS = EC_DATA_FRAGMENTS + EC_PARITY_FRAGMENTS
#: Hash path prefix and suffix written to swift.conf.  Fixed, so that data
#: in a kept run directory stays where the rings say it is; not secret.
HASH_PATH_PREFIX = HASH_PATH_SUFFIX = 'zerocloud-saio'


def _sample_dir():
    """etc/ of a checkout (next to the package), else the copy that
    setup.py ships inside an installed package (zerocloud/etc/)."""
    here = os.path.dirname(os.path.abspath(__file__))
    checkout = os.path.join(os.path.dirname(here), 'etc')
    if os.path.exists(os.path.join(checkout, 'proxy-server.conf-sample')):
        return checkout
    return os.path.join(here, 'etc')


#: Where the operator samples live: a checkout's ``etc/``, or the copy in
#: an installed package.
SAMPLE_DIR = _sample_dir()
#: The only changes made to the proxy sample; ``{...}`` are filled in.
PROXY_OVERRIDES = {
    'DEFAULT': {'bind_ip': '{ip}', 'bind_port': '{port}',
                'swift_dir': '{swift_dir}'},
}
#: The only changes made to the object server sample.
OBJECT_OVERRIDES = {
    'DEFAULT': {'bind_ip': '{ip}', 'bind_port': '{port}',
                'swift_dir': '{swift_dir}', 'devices': '{devices}',
                'mount_check': 'false', 'log_name': '{name}'},
}
#: Sections replaced whole in the proxy sample (no memcached here).
PROXY_REPLACED_SECTIONS = {
    'filter:cache': {
        'paste.filter_factory': 'zerocloud.saio:cache_filter_factory'},
}

#: ``use = OWN_EGG + NAME`` names one of zerocloud's own paste factories.
OWN_EGG = 'egg:zerocloud#'


class ClusterError(ZeroCloudError, RuntimeError):
    """The embedded cluster could not be built, started or restarted."""


# --- the in-memory cache --------------------------------------------------

class MemoryCache:
    """A process-local stand-in for Swift's ``MemcacheRing``.

    Offers what tempauth, the proxy and ratelimit use (``get``, ``set``,
    ``incr``, ``decr``, ``delete``, ``get_multi``, ``set_multi``) with
    memcached's semantics: values are JSON round-tripped when serialized,
    ``time`` is a relative lifetime in seconds (an absolute Unix time above
    30 days, none when 0), counters never go below zero.  Only good for a
    single proxy process; production uses memcached.
    """

    _RELATIVE_LIMIT = 30 * 24 * 3600

    def __init__(self, max_entries=100000, clock=time.time):
        self._data = {}
        self._max_entries = max_entries
        self._clock = clock

    def _expires(self, lifetime):
        lifetime = int(lifetime or 0)
        if lifetime <= 0:
            return None
        if lifetime > self._RELATIVE_LIMIT:
            return float(lifetime)
        return self._clock() + lifetime

    def _lookup(self, key):
        entry = self._data.get(key)
        if entry is not None and entry[0] is not None \
                and entry[0] <= self._clock():
            del self._data[key]
            return None
        return entry

    def _store(self, key, expires, value, serialized):
        if key not in self._data and len(self._data) >= self._max_entries:
            self._purge()
        self._data[key] = (expires, value, serialized)

    def _purge(self):
        now = self._clock()
        for key in [k for k, e in self._data.items()
                    if e[0] is not None and e[0] <= now]:
            del self._data[key]
        while len(self._data) >= self._max_entries:
            del self._data[next(iter(self._data))]

    def set(self, key, value, serialize=True, time=0, min_compress_len=0,
            raise_on_error=False):
        if serialize:
            value = json.dumps(value)
        self._store(key, self._expires(time), value, serialize)

    def get(self, key, raise_on_error=False):
        entry = self._lookup(key)
        if entry is None:
            return None
        _expires, value, serialized = entry
        return json.loads(value) if serialized else value

    def incr(self, key, delta=1, time=0):
        entry = self._lookup(key)
        if entry is None:
            value, expires = max(int(delta), 0), self._expires(time)
        else:
            expires, stored, serialized = entry
            current = int(json.loads(stored) if serialized else stored)
            value = max(current + int(delta), 0)
        self._store(key, expires, str(value), False)
        return value

    def decr(self, key, delta=1, time=0):
        return self.incr(key, -int(delta), time)

    def delete(self, key, server_key=None):
        self._data.pop(key, None)

    def set_multi(self, mapping, server_key, serialize=True, time=0,
                  min_compress_len=0):
        for key, value in mapping.items():
            self.set(key, value, serialize=serialize, time=time)

    def get_multi(self, keys, server_key):
        return [self.get(key) for key in keys]


class _CacheMiddleware:
    def __init__(self, app, cache):
        self.app = app
        self.cache = cache

    def __call__(self, env, start_response):
        env['swift.cache'] = self.cache
        return self.app(env, start_response)


def cache_filter_factory(global_conf, **local_conf):
    """Paste filter factory: put one :class:`MemoryCache` in every request.

    Used by the generated proxy configuration in place of Swift's memcache
    filter (``paste.filter_factory = zerocloud.saio:cache_filter_factory``).
    """
    cache = MemoryCache()

    def cache_filter(app):
        return _CacheMiddleware(app, cache)
    return cache_filter


# --- configuration --------------------------------------------------------

def _new_parser():
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str    # keep option names exactly as written
    return parser


def render_config(sample_path, overrides, replaced_sections=None):
    """Read a sample config and apply the run's changes; return the parser.

    ``overrides`` maps a section (``DEFAULT`` included) to options to set;
    ``replaced_sections`` maps a section to the options that replace all of
    its own.  Every section named must exist in the sample, so a renamed
    section fails loudly instead of being silently added.
    """
    parser = _new_parser()
    if not parser.read(sample_path):
        raise ClusterError('cannot read sample config %s' % sample_path)
    changes = list((overrides or {}).items())
    changes += list((replaced_sections or {}).items())
    for section, _options in changes:
        if section != 'DEFAULT' and not parser.has_section(section):
            raise ClusterError('%s has no [%s] section'
                               % (sample_path, section))
    for section, options in (replaced_sections or {}).items():
        parser.remove_section(section)
        parser.add_section(section)
        parser[section].update(options)
    for section, options in (overrides or {}).items():
        parser[section].update(options)
    return parser


def own_entry_points():
    """zerocloud's paste filter factories: name -> ``module:function``.

    Read from the checkout's ``pyproject.toml`` when there is one (a
    checkout need not be installed), else from the installed package's
    metadata.
    """
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    pyproject = os.path.join(root, 'pyproject.toml')
    if os.path.exists(pyproject):
        with open(pyproject, 'rb') as f:
            project = tomllib.load(f).get('project', {})
        return dict(project.get('entry-points', {}).get(
            'paste.filter_factory', {}))
    return {ep.name: ep.value for ep in importlib.metadata.entry_points(
        group='paste.filter_factory')
        if ep.dist is not None and ep.dist.name == 'zerocloud'}


def resolve_own_eggs(parser, entry_points=None):
    """Replace ``use = egg:zerocloud#NAME`` by ``paste.filter_factory``.

    Entry points exist only once the package is installed; the factory
    they name is importable from a checkout as well.  Other ``use`` lines
    (``egg:swift#...``) are left alone.

    :raises ClusterError: for a NAME zerocloud does not provide.
    """
    entry_points = own_entry_points() if entry_points is None \
        else entry_points
    for section in parser.sections():
        use = parser.get(section, 'use', fallback='')
        if not use.startswith(OWN_EGG):
            continue
        name = use[len(OWN_EGG):]
        if name not in entry_points:
            raise ClusterError('[%s] uses %s, which zerocloud does not '
                               'provide' % (section, use))
        parser.remove_option(section, 'use')
        parser[section]['paste.filter_factory'] = entry_points[name]
    return parser


def _fill(template, **values):
    return {section: {k: v.format(**values) for k, v in options.items()}
            for section, options in template.items()}


def _backend_config(kind, ip, port, swift_dir, devices):
    """Account or container server config (zerocloud adds nothing here)."""
    parser = _new_parser()
    parser['DEFAULT'] = {
        'bind_ip': ip, 'bind_port': str(port), 'swift_dir': swift_dir,
        'devices': devices, 'mount_check': 'false',
        'log_name': '%s-server' % kind}
    parser['pipeline:main'] = {'pipeline': '%s-server' % kind}
    parser['app:%s-server' % kind] = {'use': 'egg:swift#%s' % kind}
    return parser


def _write_config(parser, path, source=None):
    with open(path, 'w') as f:
        f.write('# Generated by zerocloud.saio; edits are overwritten.\n')
        if source:
            f.write('# From %s, changed only where the run needs it.\n'
                    '# workers and user are ignored: the server runs in '
                    'one process as\n# the invoking user.\n' % source)
        parser.write(f)


def _write_swift_conf(path, erasure_coded=False):
    """``swift.conf``: the default replicated policy 0 and, with
    ``erasure_coded``, policy 1 (:data:`EC_POLICY`)."""
    parser = _new_parser()
    parser['swift-hash'] = {'swift_hash_path_prefix': HASH_PATH_PREFIX,
                            'swift_hash_path_suffix': HASH_PATH_SUFFIX}
    parser['storage-policy:0'] = {'name': 'Policy-0', 'default': 'yes'}
    if erasure_coded:
        parser['storage-policy:1'] = {
            'name': EC_POLICY, 'policy_type': 'erasure_coding',
            'ec_type': EC_TYPE,
            'ec_num_data_fragments': str(EC_DATA_FRAGMENTS),
            'ec_num_parity_fragments': str(EC_PARITY_FRAGMENTS)}
    _write_config(parser, path)


def build_ring(path, replicas, devices, part_power=PART_POWER,
               seed=RING_SEED):
    """Build and save a ring (``path``, plus its ``.builder``).

    ``devices`` is a list of ``(ip, port, device)``; each gets its own zone
    and the same weight.  Placement depends only on the seed and the order
    of ``devices``, not on their ports.
    """
    from swift.common.ring import RingBuilder

    builder = RingBuilder(part_power, replicas, 1)
    for dev_id, (ip, port, device) in enumerate(devices):
        builder.add_dev({'id': dev_id, 'region': 1, 'zone': dev_id + 1,
                         'ip': ip, 'port': port, 'device': device,
                         'weight': 100.0, 'meta': ''})
    builder.rebalance(seed=seed)
    builder.get_ring().save(path)
    builder.save(path[:-len('.ring.gz')] + '.builder')
