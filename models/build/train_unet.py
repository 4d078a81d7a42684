"""Train one default model on the exported synthetic dataset and export model.onnx.

    /usr/bin/python3 models/build/train_unet.py <dataset-dir> <out.onnx> --crop D H W --iters N --seed S

Deterministic on CPU: fixed seeds for torch and numpy, single-process data sampling, fixed
iteration count (never a time budget). Crops are centred on a lesion voxel two times out of
three (lesions are < 1 % of the voxels), elsewhere otherwise. Augmentation: intensity gain and
offset (brightness/contrast, as nnU-Net augments), additive Gaussian noise — what varies
between scanners and phases — no flips (anatomy is
lateralised). Loss: BCE + soft Dice, as nnU-Net uses for binary targets.
"""
import argparse
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from unet3d import UNet3D, export_onnx  # noqa: E402


def load(dataset):
    items = []
    n = 0
    while os.path.exists(os.path.join(dataset, f"{n}.json")):
        meta = json.load(open(os.path.join(dataset, f"{n}.json")))
        d = meta["dims"]
        img = np.fromfile(os.path.join(dataset, f"{n}.img.f32"), dtype=np.float32).reshape(d)
        seg = np.fromfile(os.path.join(dataset, f"{n}.seg.u8"), dtype=np.uint8).reshape(d)
        items.append((img, seg, np.argwhere(seg > 0)))
        n += 1
    return items


def split_bright(items, threshold):
    """Lesion voxels brighter than `threshold` (hyperdense CT lesions) as their own sampling pool."""
    out = []
    for img, seg, fg in items:
        if threshold is None or not len(fg):
            out.append((img, seg, fg, fg[:0]))
            continue
        bright = img[tuple(fg.T)] > threshold
        out.append((img, seg, fg[~bright], fg[bright]))
    return out


def crop(img, seg, fg, size, rng, pad_value):
    d = img.shape
    need = [max(0, s - n) for s, n in zip(size, d)]
    if any(need):
        pads = [(p // 2, p - p // 2) for p in need]
        img = np.pad(img, pads, constant_values=pad_value)
        seg = np.pad(seg, pads)
        fg = fg + np.array([p[0] for p in pads]) if len(fg) else fg
        d = img.shape
    if len(fg) and rng.random() < 2 / 3:
        c = fg[rng.integers(len(fg))]
        start = [int(np.clip(c[a] - rng.integers(size[a] // 4, 3 * size[a] // 4 + 1), 0, d[a] - size[a])) for a in range(3)]
    else:
        start = [int(rng.integers(0, d[a] - size[a] + 1)) for a in range(3)]
    sl = tuple(slice(s, s + n) for s, n in zip(start, size))
    return img[sl], seg[sl]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dataset")
    ap.add_argument("out")
    ap.add_argument("--crop", type=int, nargs=3, required=True)
    ap.add_argument("--iters", type=int, default=1200)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--seed", type=int, default=20250101)
    ap.add_argument("--pad-value", type=float, default=-1.0)
    ap.add_argument("--gain", type=float, default=0.15)
    ap.add_argument("--offset", type=float, default=0.15)
    ap.add_argument("--noise", type=float, default=0.06)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--bright-threshold", type=float, default=None,
                    help="sample lesions brighter than this (input units) as often as darker ones: hyperdense CT "
                         "lesions are a quarter of the lesions and look like vessels, so they need more examples")
    a = ap.parse_args()

    torch.manual_seed(a.seed)
    torch.set_num_threads(a.threads)
    rng = np.random.default_rng(a.seed)
    items = split_bright(load(a.dataset), a.bright_threshold)
    print(f"{len(items)} studies, crop {a.crop}, {a.iters} iterations", flush=True)
    model = UNet3D()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3, weight_decay=1e-5)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda i: 0.5 * (1 + math.cos(math.pi * i / a.iters)))
    model.train()
    t0 = time.time()
    for it in range(a.iters):
        xs, ys = [], []
        for _ in range(a.batch):
            img, seg, dark, bright = items[rng.integers(len(items))]
            fg = bright if len(bright) and (not len(dark) or rng.random() < 0.5) else dark
            x, y = crop(img, seg, fg, a.crop, rng, a.pad_value)
            x = x * (1 + rng.uniform(-a.gain, a.gain)) + rng.uniform(-a.offset, a.offset)
            x = x + rng.normal(0, rng.uniform(0, a.noise), x.shape)
            xs.append(x.astype(np.float32))
            ys.append(y.astype(np.float32))
        x = torch.from_numpy(np.stack(xs))[:, None]
        y = torch.from_numpy(np.stack(ys))[:, None]
        logits = model(x)
        p = torch.sigmoid(logits)
        inter = (p * y).sum()
        dice = 1 - (2 * inter + 1) / (p.sum() + y.sum() + 1)
        loss = F.binary_cross_entropy_with_logits(logits, y) + dice
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if it % 50 == 0 or it == a.iters - 1:
            print(f"it {it} loss {loss.item():.4f} dice-loss {dice.item():.4f} {time.time() - t0:.0f}s", flush=True)
    # Sanity check in eval mode (the exported graph): lesion voxels must score above background,
    # or the run collapsed and must not become a model.
    model.eval()
    check = np.random.default_rng(a.seed + 1)
    inside, outside = [], []
    with torch.no_grad():
        for img, seg, dark, bright in items[:16]:
            fg = np.concatenate([dark, bright])
            if not len(fg):
                continue
            x, y = crop(img, seg, fg, a.crop, check, a.pad_value)
            lg = model(torch.from_numpy(x.astype(np.float32))[None, None])[0, 0].numpy()
            if y.any():
                inside.append(float(lg[y > 0].mean()))
            outside.append(float(lg[y == 0].mean()))
    sep = float(np.mean(inside) - np.mean(outside))
    print(f"eval-mode mean logit: lesion {np.mean(inside):.2f}, background {np.mean(outside):.2f}", flush=True)
    if sep < 2:
        sys.exit(f"training collapsed (separation {sep:.2f} < 2): not exporting")
    export_onnx(model, a.out, (1, 1, *a.crop))
    print(f"wrote {a.out} ({os.path.getsize(a.out)} bytes) in {time.time() - t0:.0f}s", flush=True)


if __name__ == "__main__":
    main()
