"""Reference values for src/pipeline.test.ts: the official evaluation transforms of each family, run by
torchvision 0.14 / Pillow 9.4 on real photos of three aspect ratios (Debian python3-torchvision,
python3-pil; photos from Debian's python3-skimage `skimage/data`, resized and stored as PNG here).

For every photo: the sha256 of the decoded RGB bytes, and for every transform the sha256 of the uint8
crop (HWC) the transform feeds to ToTensor, plus the crop's size. The transforms, as the official
repositories write them:
  dat_224      LeapLabTHU/DAT data/build.py, TEST.CROP: Resize((256, 256), bicubic) -> CenterCrop(224)
  dat_384      LeapLabTHU/DAT data/build.py, TEST.CROP False at 384: Resize((384, 384), bicubic)
  deit_224     maclong01/DeBiFormer classification/datasets.py (DeiT): Resize(int(256/224*224), bicubic)
               -> CenterCrop(224)  (the shorter side to 256, aspect kept)
  timm_0875    rayleizhu/GLMix (timm eval, crop_pct 0.875): Resize(floor(224/0.875)=256) -> CenterCrop(224)
  timm_096     rayleizhu/GLMix token-labelling models (crop_pct 0.96): Resize(floor(224/0.96)=233) -> CenterCrop(224)
Run: /usr/bin/python3 scripts/make-eval-transforms.py SKIMAGE_DATA_DIR
"""
import hashlib, json, math, sys
from pathlib import Path
from PIL import Image
from torchvision import transforms as T

BICUBIC = T.InterpolationMode.BICUBIC
TRANSFORMS = {
    'dat_224': T.Compose([T.Resize((256, 256), interpolation=BICUBIC), T.CenterCrop(224)]),
    'dat_384': T.Compose([T.Resize((384, 384), interpolation=BICUBIC)]),
    'deit_224': T.Compose([T.Resize(int((256 / 224) * 224), interpolation=BICUBIC), T.CenterCrop(224)]),
    'timm_0875': T.Compose([T.Resize(math.floor(224 / 0.875), interpolation=BICUBIC), T.CenterCrop(224)]),
    'timm_096': T.Compose([T.Resize(math.floor(224 / 0.96), interpolation=BICUBIC), T.CenterCrop(224)]),
}
# (source file in skimage/data, stored name, size it is stored at)
PHOTOS = [('chelsea.png', 'chelsea.png', None), ('rocket.jpg', 'rocket-portrait.png', (214, 320)),
          ('astronaut.png', 'astronaut-square.png', (240, 240))]

here = Path(__file__).resolve().parent.parent / 'src' / '__fixtures__' / 'images'
src = Path(sys.argv[1])
out = {'generator': 'scripts/make-eval-transforms.py', 'torchvision': '0.14.1', 'pillow': Image.__version__, 'photos': {}}
for name, stored, size in PHOTOS:
    im = Image.open(src / name).convert('RGB')
    if size:
        im = im.resize(size, Image.LANCZOS)
    dest = here / stored
    if stored != 'chelsea.png':
        im.save(dest, optimize=True)
    im = Image.open(dest).convert('RGB')
    entry = {'width': im.width, 'height': im.height, 'decoded': hashlib.sha256(im.tobytes()).hexdigest(), 'crops': {}}
    for tname, t in TRANSFORMS.items():
        c = t(im)
        entry['crops'][tname] = {'width': c.width, 'height': c.height, 'sha256': hashlib.sha256(c.tobytes()).hexdigest()}
    out['photos'][stored] = entry
(here / 'eval-transforms.json').write_text(json.dumps(out, indent=2) + '\n')
print(json.dumps(out, indent=2))
