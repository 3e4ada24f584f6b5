"""Reference outputs of Pillow's resize and of the torchvision/timm classification transform, for
src/image/resample.test.ts. Run with a Python that has Pillow and numpy (Debian: python3-pil python3-numpy):

    python3 scripts/make-resample-fixture.py src/image/__fixtures__/resample.safetensors

The input images are computed from a formula (the test recomputes them), so only outputs are stored.
"""
import json
import struct
import sys

import numpy as np
from PIL import Image


def pattern(w, h):
    y, x = np.mgrid[0:h, 0:w]
    chans = [(x * 31 + y * 17 + ((x * y) % 7) * 40 + c * 85) % 256 for c in range(3)]
    return np.stack(chans, axis=-1).astype(np.uint8)


def resize(arr, w, h, mode):
    return np.asarray(Image.fromarray(arr, 'RGB').resize((w, h), {'bicubic': Image.BICUBIC, 'bilinear': Image.BILINEAR}[mode]))


tensors = {}
cases = []
for name, (iw, ih), (ow, oh), mode in [
    ('down_bicubic', (61, 47), (46, 36), 'bicubic'),
    ('up_bicubic', (61, 47), (97, 83), 'bicubic'),
    ('down_bilinear', (61, 47), (20, 13), 'bilinear'),
    ('vertical_only', (61, 47), (61, 20), 'bicubic'),
    ('big_ratio', (300, 200), (37, 25), 'bicubic'),
]:
    tensors[name] = resize(pattern(iw, ih), ow, oh, mode)
    cases.append({'name': name, 'in': [iw, ih], 'out': [ow, oh], 'filter': mode})

# timm eval transform for size 32, crop_pct 0.875 on a 61x47 (w x h) image:
# Resize(36) (shorter side, bicubic) -> 46x36, CenterCrop(32) -> top 2, left 7, ToTensor, Normalize
mean = np.array([0.485, 0.456, 0.406], dtype=np.float32)
std = np.array([0.229, 0.224, 0.225], dtype=np.float32)
r = resize(pattern(61, 47), 46, 36, 'bicubic')
top, left = int(round((36 - 32) / 2.0)), int(round((46 - 32) / 2.0))
crop = r[top:top + 32, left:left + 32].astype(np.float32) / np.float32(255)
tensors['classification'] = ((crop - mean) / std).astype(np.float32)

header = {'__metadata__': {'cases': json.dumps(cases), 'pillow': Image.__version__}}
blobs = []
off = 0
for k, v in tensors.items():
    b = np.ascontiguousarray(v).tobytes()
    header[k] = {'dtype': 'U8' if v.dtype == np.uint8 else 'F32', 'shape': list(v.shape), 'data_offsets': [off, off + len(b)]}
    blobs.append(b)
    off += len(b)
h = json.dumps(header).encode()
h += b' ' * ((8 - len(h) % 8) % 8)
with open(sys.argv[1], 'wb') as f:
    f.write(struct.pack('<Q', len(h)) + h + b''.join(blobs))
print('wrote', sys.argv[1], 'pillow', Image.__version__)
