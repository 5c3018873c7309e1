#!/usr/bin/env python3
"""PIL baseline for tools/VacCnn.Bench: the torchvision ImageNet preprocessing a PyTorch user runs (PIL decode,
convert("RGB"), Resize(256) antialiased bilinear, CenterCrop(224), ToTensor, Normalize) on ONE core.

    /usr/bin/python3 tools/bench_pil_preprocess.py IMAGE...

Prints one JSON line: {"images", "seconds", "images_per_second", "threads"}.
"""
import json
import sys
import time

import torch
from PIL import Image
from torchvision import transforms


def main():
    files = sys.argv[1:]
    torch.set_num_threads(1)
    tf = transforms.Compose([
        transforms.Resize(256), transforms.CenterCrop(224), transforms.ToTensor(),
        transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225]),
    ])
    for p in files[:16]:  # warm-up (imports, first allocations)
        tf(Image.open(p).convert("RGB"))
    t = time.perf_counter()
    for p in files:
        tf(Image.open(p).convert("RGB"))
    s = time.perf_counter() - t
    print(json.dumps({"images": len(files), "seconds": s, "images_per_second": len(files) / s, "threads": 1}))


if __name__ == "__main__":
    main()
