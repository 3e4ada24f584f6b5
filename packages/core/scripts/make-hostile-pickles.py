"""Hostile PyTorch checkpoints for src/io/hostile.test.ts: one per category of attack on torch.load.

Each file is something `torch.load(f, weights_only=False)` would execute (run a command, open a file,
spawn a process, hijack BUILD) or expand far beyond its size (a huge LONG4, deep nesting, stride-0 and
shared-storage views); dynavit's reader must refuse every one with a typed DynavitError of the code
listed in manifest.json, quickly and without allocating what the file asks for. Nothing here needs
torch: the pickles are written opcode by opcode (see CPython's Lib/pickletools.py), the archives
with zipfile the way torch.save lays them out (`<name>/data.pkl`, `<name>/data/<key>`,
`<name>/version`, `<name>/byteorder`). Nothing here is ever unpickled by Python.

    python3 scripts/make-hostile-pickles.py src/io/__fixtures__/hostile

writes the files and manifest.json (file -> expected error code and the name the message must show).
The output is deterministic (fixed zip timestamps).
"""
import json
import os
import struct
import sys
import zipfile

# --- pickle opcodes (protocol 2 unless noted) -------------------------------------------------

PROTO2 = b'\x80\x02'
STOP = b'.'
MARK = b'('
TUPLE = b't'
EMPTY_TUPLE = b')'
EMPTY_LIST = b']'
EMPTY_DICT = b'}'
APPEND = b'a'
SETITEMS = b'u'
SETITEM = b's'
REDUCE = b'R'
BUILD = b'b'
NEWOBJ = b'\x81'
BINPERSID = b'Q'
NEWFALSE = b'\x89'
NONE = b'N'
BINPUT = b'q'
BINGET = b'h'
MEMOIZE = b'\x94'


def s(x):
    b = x.encode()
    return b'X' + struct.pack('<I', len(b)) + b


def i(n):
    if 0 <= n < 256:
        return b'K' + bytes([n])
    if -(2**31) <= n < 2**31:
        return b'J' + struct.pack('<i', n)
    raw = n.to_bytes((n.bit_length() + 8) // 8, 'little', signed=True)
    return b'\x8a' + bytes([len(raw)]) + raw


def f(x):
    return b'G' + struct.pack('>d', x)


def glob(module, name):
    return b'c' + module.encode() + b'\n' + name.encode() + b'\n'


def tup(*items):
    return MARK + b''.join(items) + TUPLE


def dict_(*pairs):
    return EMPTY_DICT + MARK + b''.join(k + v for k, v in pairs) + SETITEMS


def odict(*pairs):
    return glob('collections', 'OrderedDict') + EMPTY_TUPLE + REDUCE + (MARK + b''.join(k + v for k, v in pairs) + SETITEMS if pairs else b'')


def pickle(*body):
    return PROTO2 + b''.join(body) + STOP


def tensor(storage_type, key, numel, offset, size, stride, legacy_view=None):
    """torch._utils._rebuild_tensor_v2(storage, offset, size, stride, False, OrderedDict())."""
    pid = s('storage') + glob('torch', storage_type) + s(key) + s('cpu') + i(numel)
    if legacy_view is not None:
        pid += legacy_view
    return (
        glob('torch._utils', '_rebuild_tensor_v2')
        + MARK
        + MARK + pid + TUPLE + BINPERSID
        + i(offset)
        + tup(*size)
        + tup(*stride)
        + NEWFALSE
        + odict()
        + TUPLE
        + REDUCE
    )


def checkpoint(pkl, storages=()):
    """A torch.save-style ZIP archive (STORED members, fixed timestamps)."""
    import io

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, 'w', zipfile.ZIP_STORED) as z:
        def add(name, data):
            info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
            z.writestr(info, data)

        add('archive/data.pkl', pkl)
        add('archive/byteorder', b'little')
        for key, data in storages:
            add(f'archive/data/{key}', data)
        add('archive/version', b'3\n')
    return buf.getvalue()


def legacy(obj_pickle, storages):
    """The pre-1.6 format: magic, protocol, sys_info, the object, the key list, then the raw storages."""
    out = pickle(i(0x1950A86A20F9469CFC6C))
    out += pickle(i(1001))
    out += pickle(dict_((s('protocol_version'), i(1001)), (s('little_endian'), b'\x88'), (s('type_sizes'), dict_())))
    out += obj_pickle
    out += pickle(EMPTY_LIST + MARK + b''.join(s(k) for k, _, _ in storages) + b'e')
    for _, numel, data in storages:
        out += struct.pack('<q', numel) + data
    return out


def model_with(key, value):
    """{'model': OrderedDict(), key: value}: the payload sits next to an (empty) state dict, as in a real checkpoint."""
    return pickle(dict_((s('model'), odict()), (s(key), value)))


files = {}


def add(name, data, code, names, what):
    files[name] = (data, {'code': code, 'names': names, 'what': what})


# 1. code execution via REDUCE: os.system('...')
add(
    'os_system_reduce.pth',
    checkpoint(model_with('x', glob('os', 'system') + tup(s('touch dynavit-pwned.txt')) + REDUCE)),
    'UNSAFE_PICKLE', ['os.system'], 'os.system via GLOBAL + REDUCE',
)
add(
    'legacy_builtins_exec.pth',
    legacy(model_with('x', glob('builtins', 'exec') + tup(s("open('dynavit-pwned.txt','w')")) + REDUCE), []),
    'UNSAFE_PICKLE', ['builtins.exec'], 'builtins.exec via REDUCE in a legacy-format checkpoint',
)
# 2. classes that touch files or spawn processes, outside any deny-list of modules
add(
    'zipfile_zipfile.pth',
    checkpoint(model_with('x', glob('zipfile', 'ZipFile') + tup(s('dynavit-pwned.zip'), s('w')) + REDUCE)),
    'UNSAFE_PICKLE', ['zipfile.ZipFile'], 'zipfile.ZipFile(path, "w") creates a file',
)
add(
    'winapi_createprocess.pth',
    checkpoint(
        model_with(
            'x',
            glob('_winapi', 'CreateProcess')
            + tup(NONE, s('calc.exe'), NONE, NONE, i(0), i(0), NONE, NONE, NONE)
            + REDUCE,
        )
    ),
    'UNSAFE_PICKLE', ['_winapi.CreateProcess'], '_winapi.CreateProcess spawns a process',
)
# 3. BUILD hijack: an inert-looking object whose state sets __setstate__ to torch.load; the second BUILD calls it
add(
    'namespace_setstate_torch_load.pth',
    checkpoint(
        model_with(
            'args',
            glob('argparse', 'Namespace') + EMPTY_TUPLE + NEWOBJ
            + dict_((s('__setstate__'), glob('torch', 'load'))) + BUILD
            + s('evil.pth') + BUILD,
        )
    ),
    'UNSAFE_PICKLE', ['torch.load'], 'argparse.Namespace whose BUILD state sets __setstate__ = torch.load',
)
add(
    'ordereddict_build_torch_load.pth',
    checkpoint(
        pickle(
            dict_(
                (
                    s('model'),
                    odict() + dict_((s('__setstate__'), glob('torch', 'load'))) + BUILD + s('evil.pth') + BUILD,
                )
            )
        )
    ),
    'UNSAFE_PICKLE', ['torch.load'], 'OrderedDict whose BUILD state sets __setstate__ = torch.load',
)
add(
    'ordereddict_build_dunder.pth',
    checkpoint(
        pickle(
            dict_(
                (
                    s('model'),
                    odict() + dict_((s('__setstate__'), glob('collections', 'OrderedDict'))) + BUILD + s('x') + BUILD,
                )
            )
        )
    ),
    'UNSAFE_PICKLE', ['__setstate__'], 'OrderedDict whose BUILD state overrides __setstate__ (with an allow-listed global)',
)
# 4. a whole pickled nn.Module (torch.save(model)): runs the module's class machinery
add(
    'torch_nn_module.pth',
    checkpoint(
        pickle(
            glob('torch.nn.modules.linear', 'Linear') + EMPTY_TUPLE + NEWOBJ
            + dict_(
                (s('training'), b'\x88'),
                (s('_parameters'), odict((s('weight'), tensor('FloatStorage', '0', 4, 0, [i(2), i(2)], [i(2), i(1)])))),
            )
            + BUILD
        ),
        [('0', struct.pack('<4f', 1, 2, 3, 4))],
    ),
    'UNSAFE_PICKLE', ['torch.nn.modules.linear.Linear'], 'a pickled torch.nn.Linear module',
)
add(
    'torch_nn_module_base.pth',
    checkpoint(model_with('m', glob('torch.nn', 'Module') + EMPTY_TUPLE + NEWOBJ)),
    'UNSAFE_PICKLE', ['torch.nn.Module'], 'a pickled torch.nn.Module',
)
# 5. integers and strings far larger than anything in a checkpoint
add(
    'long4_140mb.pth',
    # the LONG4 announces 140 MB; only its head is present (a reader must refuse on the length alone)
    checkpoint(PROTO2 + EMPTY_DICT + s('x') + b'\x8b' + struct.pack('<i', 140_000_000) + b'\x01' * 64),
    'CHECKPOINT', ['LONG4'], 'LONG4 announcing a 140 MB integer',
)
add(
    'long4_64kb.pth',
    checkpoint(model_with('x', b'\x8b' + struct.pack('<i', 65536) + b'\x01' * 65536)),
    'CHECKPOINT', ['LONG4'], 'a complete 64 KB LONG4 integer (over the cap)',
)
add(
    'long_text_digits.pth',
    checkpoint(model_with('x', b'L' + b'9' * 200_000 + b'L\n')),
    'CHECKPOINT', ['LONG'], 'a protocol-0 LONG of 200,000 decimal digits',
)
add(
    'binunicode8_huge.pth',
    checkpoint(PROTO2 + EMPTY_DICT + b'\x8d' + struct.pack('<Q', 2**40) + b'abc'),
    'CHECKPOINT', ['BINUNICODE8'], 'BINUNICODE8 announcing 1 TiB',
)
add(
    'binbytes8_huge.pth',
    checkpoint(PROTO2 + EMPTY_DICT + b'\x8e' + struct.pack('<Q', 2**53 + 8) + b'abc'),
    'CHECKPOINT', ['BINBYTES8'], 'BINBYTES8 announcing more than 2^53 bytes',
)
# 6. memoised values copied again and again by allow-listed reconstructors
amplify = PROTO2 + s('x' * 65536) + BINPUT + b'\x01' + b'0' + EMPTY_LIST
for _ in range(2048):
    amplify += glob('_codecs', 'encode') + BINGET + b'\x01' + s('latin1') + b'\x86' + REDUCE + APPEND
add(
    'codecs_encode_amplify.pth',
    checkpoint(amplify + STOP),
    'BUDGET', ['_codecs.encode'], 'one 64 KB string encoded 2048 times (128 MiB from a 200 KB file)',
)
# 7. deep nesting
depth = 100_000
add(
    'deep_nesting.pth',
    checkpoint(pickle(dict_((s('model'), odict()), (s('x'), EMPTY_LIST * depth + APPEND * (depth - 1))))),
    'CHECKPOINT', [], '100,000 nested lists (readPth: nested too deep; loadPthStateDict: no state dict)',
)
# 8. tensor views that expand far beyond the file
add(
    'stride0_1gib.pth',
    checkpoint(
        pickle(odict((s('w'), tensor('FloatStorage', '0', 1, 0, [i(16384), i(16384)], [i(0), i(0)])))),
        [('0', struct.pack('<f', 1))],
    ),
    'BUDGET', ['w', '16384'], 'stride-0 view of 2^28 elements (1 GiB) over a 1-element storage',
)
add(
    'stride0_1e12.pth',
    checkpoint(
        pickle(odict((s('w'), tensor('FloatStorage', '0', 1, 0, [i(10**12)], [i(0)])))),
        [('0', struct.pack('<f', 1))],
    ),
    'BUDGET', ['w', '1000000000000'], 'stride-0 view of 10^12 elements',
)
add(
    'size_infinite.pth',
    checkpoint(
        pickle(odict((s('w'), tensor('FloatStorage', '0', 1, 0, [f(float('inf'))], [i(0)])))),
        [('0', struct.pack('<f', 1))],
    ),
    'CHECKPOINT', ['size'], 'a tensor size of float infinity',
)
add(
    'size_nan.pth',
    checkpoint(
        pickle(odict((s('w'), tensor('FloatStorage', '0', 1, 0, [f(float('nan'))], [i(0)])))),
        [('0', struct.pack('<f', 1))],
    ),
    'CHECKPOINT', ['size'], 'a tensor size of NaN',
)
add(
    'size_negative.pth',
    checkpoint(
        pickle(odict((s('w'), tensor('FloatStorage', '0', 4, 0, [i(-4)], [i(1)])))),
        [('0', struct.pack('<4f', 1, 2, 3, 4))],
    ),
    'CHECKPOINT', ['w', '-4'], 'a negative tensor size',
)
numel = 65536
add(
    'shared_storage_500.pth',
    checkpoint(
        pickle(odict(*[(s(f'w{k}'), tensor('FloatStorage', '0', numel, 0, [i(numel)], [i(1)])) for k in range(500)])),
        [('0', b'\0' * (4 * numel))],
    ),
    'BUDGET', ['65536'], '500 tensors viewing one 256 KiB storage (125 MiB)',
)
add(
    'legacy_stride0.pth',
    legacy(
        pickle(odict((s('w'), tensor('FloatStorage', '0', 1, 0, [i(16384), i(16384)], [i(0), i(0)], NONE)))),
        [('0', 1, struct.pack('<f', 1))],
    ),
    'BUDGET', ['w'], 'stride-0 expansion in a legacy-format checkpoint',
)
def main():
    out = sys.argv[1] if len(sys.argv) > 1 else 'src/io/__fixtures__/hostile'
    os.makedirs(out, exist_ok=True)
    manifest = {}
    for name, (data, meta) in sorted(files.items()):
        with open(os.path.join(out, name), 'wb') as fh:
            fh.write(data)
        manifest[name] = meta
    with open(os.path.join(out, 'manifest.json'), 'w') as fh:
        json.dump(manifest, fh, indent=1, sort_keys=True)
        fh.write('\n')
    print(f'wrote {len(files)} files to {out}')


if __name__ == '__main__':
    main()
