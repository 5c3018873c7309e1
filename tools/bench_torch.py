#!/usr/bin/env python3
"""PyTorch baseline for tools/VacCnn.Bench: evaluates a torchvision architecture on image files the way a PyTorch
user would (PIL decode, torchvision transforms, eval mode, no_grad, batches), with torch.set_num_threads(cpu_count).

    /usr/bin/python3 tools/bench_torch.py ARCH BATCH IMAGE...

Prints one JSON line: {"arch", "images", "seconds", "images_per_second", "threads"}.
Random weights (fixed seed): the timing is the same as with trained weights.
"""
import json
import os
import sys
import time

import torch
import torchvision
from PIL import Image
from torchvision import transforms


def main():
    arch, batch, files = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
    torch.set_num_threads(os.cpu_count())
    torch.manual_seed(0)
    model = getattr(torchvision.models, arch)(weights=None).eval()
    tf = transforms.Compose([
        transforms.Resize(256), transforms.CenterCrop(224), transforms.ToTensor(),
        transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225]),
    ])

    def run(paths):
        with torch.no_grad():
            for i in range(0, len(paths), batch):
                x = torch.stack([tf(Image.open(p).convert("RGB")) for p in paths[i:i + batch]])
                model(x).softmax(1)

    run(files[:batch])  # warm-up
    t = time.perf_counter()
    run(files)
    s = time.perf_counter() - t
    print(json.dumps({"arch": arch, "images": len(files), "seconds": s, "images_per_second": len(files) / s,
                      "threads": torch.get_num_threads()}))


if __name__ == "__main__":
    main()
