#!/usr/bin/env python3
"""Export torchvision ImageNet classifiers to VacCnn ONNX model folders.

    /usr/bin/python3 tools/export_torchvision.py ARCH [ARCH ...] --out DIR [--pretrained] [--seed N] [--opset 13]

Writes DIR/<arch>/model.onnx (input `input` [N,3,224,224], output `logits` [N,1000], dynamic batch axis N) and
DIR/<arch>/model.json (torchvision preprocessing). Random weights (fixed seed) by default; --pretrained asks
torchvision for weights='DEFAULT' (needs a download).

The Grad-CAM target layer is made a named tensor: the module's output is captured with a forward hook and
exported as an extra graph output named after the module (e.g. `layer4`), which is then removed from the
graph outputs, so the tensor keeps that name inside the graph. model.json also records `torchParameters`
(sum of p.numel() over model.parameters()) so tests can compare the plugin's count.
"""
import argparse
import json
import os
import sys

import torch
import torchvision

# The paper's target layer (module path) per architecture family; the ONNX tensor gets this name.
TARGET_LAYERS = {
    "alexnet": "features.11",
    "vgg16": "features.29",
    "squeezenet1_0": "features.12",
    "squeezenet1_1": "features.12",
    "mobilenet_v2": "features.18",
}
FAMILIES = [
    ("resnet", "ResNet"), ("resnext", "ResNeXt"), ("wide_resnet", "Wide ResNet"), ("densenet", "DenseNet"),
    ("squeezenet", "SqueezeNet"), ("shufflenet", "ShuffleNet V2"), ("mobilenet_v2", "MobileNet V2"),
    ("mobilenet_v3", "MobileNet V3"), ("vgg", "VGG"), ("alexnet", "AlexNet"), ("googlenet", "GoogLeNet"),
    ("inception", "Inception"), ("mnasnet", "MnasNet"), ("efficientnet", "EfficientNet"), ("regnet", "RegNet"),
    ("convnext", "ConvNeXt"), ("vit", "ViT"), ("swin", "Swin"),
]


def target_layer(arch):
    if arch in TARGET_LAYERS:
        return TARGET_LAYERS[arch]
    if arch.startswith(("resnet", "resnext", "wide_resnet")):
        return "layer4"
    if arch.startswith("densenet"):
        return "features.norm5"
    if arch.startswith("shufflenet"):
        return "conv5"
    return None  # not determined for this architecture


def family(arch):
    for prefix, name in FAMILIES:
        if arch.startswith(prefix):
            return name
    return arch


class WithFeatures(torch.nn.Module):
    """Returns (logits, output of `layer`) so the traced graph names that tensor."""

    def __init__(self, model, layer):
        super().__init__()
        self.model = model
        self.captured = None
        model.get_submodule(layer).register_forward_hook(self._capture)

    def _capture(self, module, inputs, output):
        # The rest of the network continues from a copy: an in-place op downstream (DenseNet's
        # F.relu(features, inplace=True) after features.norm5) would otherwise rewrite the captured tensor, and
        # the name would land on the ReLU's output instead of the module's.
        self.captured = output
        return output.clone()

    def forward(self, x):
        logits = self.model(x)
        return logits, self.captured


def export(arch, out_dir, pretrained, seed, opset):
    torch.manual_seed(seed)
    ctor = getattr(torchvision.models, arch, None)
    if ctor is None:
        raise SystemExit(f"torchvision.models has no architecture '{arch}'")
    model = ctor(weights="DEFAULT" if pretrained else None)
    model.eval()
    torch_parameters = sum(p.numel() for p in model.parameters())

    folder = os.path.join(out_dir, arch)
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, "model.onnx")
    x = torch.zeros(1, 3, 224, 224)
    layer = target_layer(arch)
    if layer is not None:
        wrapped = WithFeatures(model, layer)
        torch.onnx.export(wrapped, x, path, input_names=["input"], output_names=["logits", layer],
                          opset_version=opset, dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}, layer: {0: "N"}})
        import onnx  # only needed to drop the helper output
        m = onnx.load(path)
        keep = [o for o in m.graph.output if o.name != layer]
        del m.graph.output[:]
        m.graph.output.extend(keep)
        onnx.save(m, path)
    else:
        torch.onnx.export(model, x, path, input_names=["input"], output_names=["logits"],
                          opset_version=opset, dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}})

    manifest = {
        "id": arch,
        "name": f"{arch} (torchvision{', pretrained' if pretrained else ', random weights'})",
        "family": family(arch),
        "onnx": "model.onnx",
        "input": {"name": "input", "layout": "NCHW", "size": 224, "resize": 256, "channels": "RGB",
                  "mean": [123.675, 116.28, 103.53], "std": [58.395, 57.12, 57.375]},
        "output": {"name": "logits", "kind": "logits"},
        "labels": "imagenet-1k",
        "targetLayer": layer,
        "source": f"torchvision {arch}, " + ("pretrained weights (weights='DEFAULT')" if pretrained else f"random weights (seed {seed})"),
        "licence": "BSD-3-Clause (torchvision)",
        "torchParameters": torch_parameters,
    }
    with open(os.path.join(folder, "model.json"), "w") as f:
        json.dump(manifest, f, indent=2)
    print(f"{arch}: {torch_parameters} parameters -> {path} (targetLayer {layer})")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("arch", nargs="+", help="torchvision.models architecture, e.g. resnet18")
    p.add_argument("--out", required=True, help="models root to write <arch>/ folders into")
    p.add_argument("--pretrained", action="store_true", help="weights='DEFAULT' (downloads)")
    p.add_argument("--seed", type=int, default=0, help="seed for random weights (default 0)")
    p.add_argument("--opset", type=int, default=13)
    a = p.parse_args()
    torch.set_num_threads(os.cpu_count() or 1)
    for arch in a.arch:
        export(arch, a.out, a.pretrained, a.seed, a.opset)
    return 0


if __name__ == "__main__":
    sys.exit(main())
