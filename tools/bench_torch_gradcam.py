#!/usr/bin/env python3
"""PyTorch baseline for tools/VacCnn.Bench --section explain: Grad-CAM the way a PyTorch user computes it (a forward
hook on the target module keeps its output and the output's gradient, one forward, backward of the predicted class's
logit, channel weights = mean gradient, ReLU of the weighted sum, bilinear upsampling, min-max normalisation), batch 1,
torch.set_num_threads(os.cpu_count()).

    /usr/bin/python3 tools/bench_torch_gradcam.py ARCH REPEATS IMAGE

Random weights (seed 0, as tools/export_torchvision.py exports them): the timing does not depend on the weights.
Prints one JSON line: {"arch", "layer", "ms_per_explanation", "forward_ms", "repeats", "threads"} (medians after a
warm-up run; preprocessing of the image is done once, outside the timing, as on the VacCnn side).
"""
import json
import os
import sys
import time

import torch
import torch.nn.functional as F
import torchvision
from PIL import Image
from torchvision import transforms

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import export_torchvision  # noqa: E402  (same target layers as the exported models)


def main():
    arch, repeats, image = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    torch.set_num_threads(os.cpu_count())
    torch.manual_seed(0)
    model = getattr(torchvision.models, arch)(weights=None).eval()
    layer = export_torchvision.target_layer(arch)
    tf = transforms.Compose([
        transforms.Resize(256), transforms.CenterCrop(224), transforms.ToTensor(),
        transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225]),
    ])
    x = tf(Image.open(image).convert("RGB")).unsqueeze(0)
    store = {}

    def hook(module, inputs, output):
        if output.requires_grad:  # not during the no_grad forward baseline
            output.register_hook(lambda g: store.__setitem__("g", g))
        store["a"] = output

    model.get_submodule(layer).register_forward_hook(hook)

    def explain():
        model.zero_grad(set_to_none=True)
        logits = model(x)
        logits[0, logits[0].argmax()].backward()
        a, g = store["a"].detach(), store["g"]
        cam = F.relu((g.mean(dim=(2, 3), keepdim=True) * a).sum(1, keepdim=True))
        cam = F.interpolate(cam, size=x.shape[2:], mode="bilinear", align_corners=False)
        return (cam - cam.min()) / (cam.max() - cam.min() + 1e-12)

    def forward():
        with torch.no_grad():
            model(x).softmax(1)

    def median_ms(fn):
        fn()
        times = []
        for _ in range(repeats):
            t = time.perf_counter()
            fn()
            times.append((time.perf_counter() - t) * 1000)
        return sorted(times)[len(times) // 2]

    print(json.dumps({"arch": arch, "layer": layer, "ms_per_explanation": median_ms(explain),
                      "forward_ms": median_ms(forward), "repeats": repeats, "threads": torch.get_num_threads()}))


if __name__ == "__main__":
    main()
