"""A small 3-D U-Net (Ronneberger/Çiçek style, as in MONAI's BasicUNet but narrower).

Three resolution levels, two 3×3×3 conv + BatchNorm + LeakyReLU blocks per level, max-pool
down, transposed-conv up, skip concatenation, 1×1×1 head producing logits. BatchNorm folds into
the convolutions at ONNX export (eval mode), so inference is plain convolutions. Spatial sizes
must be divisible by 4 (two poolings). Used by train_unet.py for the default models and by the
any-ONNX test (random weights).
"""
import torch
from torch import nn


def block(cin: int, cout: int, norm: bool) -> nn.Sequential:
    layers = []
    for a, b in ((cin, cout), (cout, cout)):
        layers.append(nn.Conv3d(a, b, 3, padding=1, bias=not norm))
        if norm:
            layers.append(nn.BatchNorm3d(b))
        layers.append(nn.LeakyReLU(0.01, inplace=True))
    return nn.Sequential(*layers)


class UNet3D(nn.Module):
    def __init__(self, cin: int = 1, cout: int = 1, widths=(8, 16, 32), norm: bool = True):
        super().__init__()
        w1, w2, w3 = widths
        self.enc1 = block(cin, w1, norm)
        self.enc2 = block(w1, w2, norm)
        self.mid = block(w2, w3, norm)
        self.pool = nn.MaxPool3d(2)
        self.up2 = nn.ConvTranspose3d(w3, w2, 2, stride=2)
        self.dec2 = block(2 * w2, w2, norm)
        self.up1 = nn.ConvTranspose3d(w2, w1, 2, stride=2)
        self.dec1 = block(2 * w1, w1, norm)
        self.head = nn.Conv3d(w1, cout, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        e1 = self.enc1(x)
        e2 = self.enc2(self.pool(e1))
        m = self.mid(self.pool(e2))
        d2 = self.dec2(torch.cat([self.up2(m), e2], 1))
        d1 = self.dec1(torch.cat([self.up1(d2), e1], 1))
        return self.head(d1)


def export_onnx(model: nn.Module, path: str, example_shape, input_name="image", output_name="logits") -> None:
    """Export with dynamic batch and spatial axes (the sliding window fixes them per run)."""
    model.eval()
    x = torch.zeros(*example_shape)
    torch.onnx.export(
        model,
        x,
        path,
        input_names=[input_name],
        output_names=[output_name],
        dynamic_axes={input_name: {0: "batch", 2: "depth", 3: "height", 4: "width"},
                      output_name: {0: "batch", 2: "depth", 3: "height", 4: "width"}},
        opset_version=13,
        do_constant_folding=True,
    )
