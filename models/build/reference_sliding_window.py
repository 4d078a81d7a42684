"""PyTorch reference of the sliding-window scheme the TypeScript engine implements
(workers/src/ai/sliding-window.ts), written after MONAI's `sliding_window_inference`
(monai/inferers/utils.py) and `compute_importance_map` / `dense_patch_slices`
(monai/data/utils.py) — MONAI itself is not installed here, so this is a faithful re-statement:

  * pad each spatial axis smaller than the ROI symmetrically (diff // 2 before) with a constant;
  * scan interval int(roi * (1 - overlap)) (>= 1), or roi when the padded size equals the ROI;
  * window starts k * interval, the last one moved back to end at the border;
  * Gaussian importance map: separable exp(-x^2 / 2 sigma^2), x centred at (p - 1) / 2,
    sigma = sigma_scale * p, clamped below at max(min, 1e-3);
  * sum(prediction * weight) / sum(weight), then crop the padding.

Command line (used by tests/integration/ai-any-onnx.test.ts):

  reference_sliding_window.py <out-dir> <config.json>

config: {"seed", "kind": "unet"|"fcn", "dims": [D,H,W], "patch": [..], "overlap", "blending",
         "sigma_scale", "pad_value", "batch"}
writes: model.onnx, input.f32, sliding.f32 (reference sliding window), whole.f32 (the network on
the whole volume at once), meta.json (shapes, receptive field).
"""
import json
import math
import os
import sys

import numpy as np
import torch
from torch import nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from unet3d import UNet3D, export_onnx  # noqa: E402


def importance_map(patch, mode, sigma_scale):
    if mode == "constant":
        return torch.ones(patch, dtype=torch.float32)
    m = None
    for i, p in enumerate(patch):
        sigma = p * sigma_scale
        x = torch.arange(start=-(p - 1) / 2.0, end=(p - 1) / 2.0 + 1, dtype=torch.float32)
        x = torch.exp(x ** 2 / (-2 * sigma ** 2))
        m = x if i == 0 else m.unsqueeze(-1) * x[(None,) * i]
    floor = max(torch.min(m).item(), 1e-3)
    return torch.clamp(m, min=floor)


def starts_along(size, roi, overlap):
    interval = roi if roi == size else max(int(roi * (1 - overlap)), 1)
    count = next(d for d in range(int(math.ceil(size / interval)) + 1) if d * interval + roi >= size) + 1
    return [s - max(s + roi - size, 0) for s in (d * interval for d in range(count))]


@torch.no_grad()
def sliding_window(x, roi, overlap, predictor, mode="gaussian", sigma_scale=0.125, pad_value=0.0, sw_batch=1):
    size = list(x.shape[2:])
    pads = []
    for k in range(len(x.shape) - 1, 1, -1):  # F.pad order: last axis first
        diff = max(roi[k - 2] - x.shape[k], 0)
        pads.extend([diff // 2, diff - diff // 2])
    x = F.pad(x, pads, mode="constant", value=pad_value)
    padded = list(x.shape[2:])
    starts = [starts_along(padded[a], roi[a], overlap) for a in range(3)]
    windows = [(z, y, w) for z in starts[0] for y in starts[1] for w in starts[2]]
    weight = importance_map(roi, mode, sigma_scale)
    out = None
    count = torch.zeros(padded, dtype=torch.float32)
    for b in range(0, len(windows), sw_batch):
        group = windows[b:b + sw_batch]
        batch = torch.cat([x[:, :, z:z + roi[0], y:y + roi[1], w:w + roi[2]] for z, y, w in group])
        pred = predictor(batch)
        if out is None:
            out = torch.zeros([pred.shape[1]] + padded, dtype=torch.float32)
        for n, (z, y, w) in enumerate(group):
            out[:, z:z + roi[0], y:y + roi[1], w:w + roi[2]] += pred[n] * weight
            count[z:z + roi[0], y:y + roi[1], w:w + roi[2]] += weight
    out = out / count
    crop = [slice(pads[2 * (2 - a)], pads[2 * (2 - a)] + size[a]) for a in range(3)]
    return out[:, crop[0], crop[1], crop[2]]


class SmallFCN(nn.Module):
    """Three 3x3x3 convolutions, no pooling: receptive field 7 voxels (radius 3)."""

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Conv3d(1, 4, 3, padding=1), nn.Tanh(), nn.Conv3d(4, 4, 3, padding=1), nn.Tanh(),
                                 nn.Conv3d(4, 2, 3, padding=1))

    def forward(self, x):
        return self.net(x)


def main():
    out_dir, config_path = sys.argv[1], sys.argv[2]
    c = json.load(open(config_path))
    torch.manual_seed(c["seed"])
    torch.set_num_threads(1)
    if c["kind"] == "unet":
        model = UNet3D(widths=(4, 8, 16))
        model.eval()
        # Random BatchNorm statistics too, so the folded graph is not an identity normalisation.
        for m in model.modules():
            if isinstance(m, nn.BatchNorm3d):
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 1.5)
        receptive = None
    else:
        model = SmallFCN()
        receptive = 7
    model.eval()
    os.makedirs(out_dir, exist_ok=True)
    export_onnx(model, os.path.join(out_dir, "model.onnx"), (1, 1, *c["patch"]))
    rng = np.random.default_rng(c["seed"])
    vol = rng.normal(0, 1, c["dims"]).astype(np.float32)
    vol.tofile(os.path.join(out_dir, "input.f32"))
    x = torch.from_numpy(vol)[None, None]
    with torch.no_grad():
        sw = sliding_window(x, c["patch"], c["overlap"], model, c["blending"], c["sigma_scale"], c["pad_value"], c["batch"])
        sw.numpy().astype(np.float32).tofile(os.path.join(out_dir, "sliding.f32"))
        if c["kind"] == "fcn":  # the U-Net needs sizes divisible by 4; only the FCN runs whole
            whole = model(x)[0]
            whole.numpy().astype(np.float32).tofile(os.path.join(out_dir, "whole.f32"))
    json.dump({"channels": int(sw.shape[0]), "dims": c["dims"], "receptiveField": receptive,
               "torch": torch.__version__}, open(os.path.join(out_dir, "meta.json"), "w"))


if __name__ == "__main__":
    main()
