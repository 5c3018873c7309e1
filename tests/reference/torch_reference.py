#!/usr/bin/env python3
"""PyTorch autograd reference for VacCnn's ONNX backward graphs and CAM explainers (an independent implementation).

    /usr/bin/python3 tests/reference/torch_reference.py ARCH --out DIR [--image FILE] [--seed N] [--class K]

1. Exports torchvision ARCH with fixed random weights (seed N) through tools/export_torchvision.py into
   DIR/ARCH/model.onnx + model.json. The exporter names the ONNX tensor of the target layer after the PyTorch
   module (e.g. `layer4`, `features.norm5`), so module name == tensor name: no guessing of mapped names.
2. Builds the same model again with the same seed and computes, in float64 with autograd, on the same input:
   logits, the target module's output A (captured by a forward hook), dS/dA and dS/dx for S = logit of the class
   (the predicted one unless --class), and the Grad-CAM, Grad-CAM++, HiResCAM, XGrad-CAM, LayerCAM and Eigen-CAM maps (bilinear upsampling to the input,
   align_corners=False, min-max normalised, as torchvision / OpenCV resize and the paper's code do).
   With --attributions also the input attributions, as pixel maps (sum over channels of |a|, min-max normalised):
   Gradient x Input, Integrated Gradients from a black and from a blurred baseline (midpoint rule, --steps, path
   points formed in float32 as the model's input receives them), and SmoothGrad (the mean gradient over
   x + 0.15 (max x - min x) z for the unit normal draws z of --noise).
   With --ablation also Ablation-CAM (every channel of the layer zeroed in turn by the forward hook); its weights
   are small differences of two logits, so it is also computed in float32 (ablationcam_float32.npy) as a floor.
   These average gradients at many inputs, and at some of them (nearly uniform pictures near the black end of the
   path, noisy copies) a ReLU/ReLU6 kink or a MaxPool near-tie sits within float32 rounding: any float32
   implementation then takes another valid subgradient there. So each of these three is also computed by the same
   PyTorch model in float32 (<name>_float32.npy): its distance from float64 is the rounding floor of the comparison.
3. Writes DIR/ARCH/reference/{input,logits,activations,layer_gradient,input_gradient,<method>}.npy
   (float32, C order) and reference.json (arch, layer, class, shapes, versions).
4. tie_affected.npy: 1 for the input elements whose gradient depends on which value wins a MaxPool window that holds
   two values within a relative 1e-5 of each other (float32 rounding may pick either: both are valid subgradients).

The input is the image (torchvision transforms: Resize 256, CenterCrop 224, ToTensor, ImageNet mean/std), rounded to
float32 first so both sides see exactly the same numbers; without --image, seeded N(0,1) noise.
Grad-CAM++ follows the paper's code (the exp(score) closed form of Chattopadhay et al. as in the SmoothGradCAMplusplus
PyTorch code): alpha = g^2 / (2 g^2 + sum_hw A g^3) (0 where the denominator is 0), w = sum_hw alpha * relu(g);
the positive factor exp(S) cancels in the min-max normalisation, and the code's 1e-7 added to the denominator is
left out (it is not scale-free: at small gradients it would dominate g^2); XGrad-CAM's 1e-7 likewise.
HiResCAM, XGrad-CAM, LayerCAM and Eigen-CAM follow pytorch-grad-cam's definitions (written here from the papers).
"""
import argparse
import copy
import json
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F
import torchvision

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools"))
import export_torchvision  # noqa: E402  (the exporter VacCnn users run: same seed -> same weights)


def load_input(image, seed):
    if image is None:
        g = torch.Generator().manual_seed(seed)
        x = torch.randn(1, 3, 224, 224, generator=g)
    else:
        from PIL import Image
        from torchvision import transforms
        tf = transforms.Compose([
            transforms.Resize(256), transforms.CenterCrop(224), transforms.ToTensor(),
            transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225]),
        ])
        x = tf(Image.open(image).convert("RGB")).unsqueeze(0)
    return x.to(torch.float32)


def grad_cam(a, g):
    w = g.mean(dim=(2, 3), keepdim=True)
    return F.relu((w * a).sum(1, keepdim=True))


def grad_cam_pp(a, g):
    g2, g3 = g.pow(2), g.pow(3)
    denom = 2 * g2 + (a * g3).sum(dim=(2, 3), keepdim=True)
    alpha = torch.where(denom != 0, g2 / torch.where(denom != 0, denom, torch.ones_like(denom)), torch.zeros_like(g2))
    w = (alpha * F.relu(g)).sum(dim=(2, 3), keepdim=True)
    return F.relu((w * a).sum(1, keepdim=True))


def hires_cam(a, g):
    return F.relu((g * a).sum(1, keepdim=True))


def xgrad_cam(a, g):
    s = a.sum(dim=(2, 3), keepdim=True)
    w = torch.where(s != 0, (g * a).sum(dim=(2, 3), keepdim=True) / torch.where(s != 0, s, torch.ones_like(s)), torch.zeros_like(s))
    return F.relu((w * a).sum(1, keepdim=True))


def layer_cam(a, g):
    return F.relu((F.relu(g) * a).sum(1, keepdim=True))


def eigen_cam(a):
    """pytorch-grad-cam's get_2d_projection (centre per channel, SVD, project on the first right singular vector),
    with the sign fixed so that the projection correlates positively with the total activation per position."""
    k = a.shape[1]
    x = a[0].reshape(k, -1).T
    x = x - x.mean(dim=0)
    _, _, vt = torch.linalg.svd(x, full_matrices=False)
    p = x @ vt[0]
    if (p * a[0].sum(0).reshape(-1)).sum() < 0:
        p = -p
    return F.relu(p.reshape(1, 1, *a.shape[2:]))


def normalise(m):
    lo, hi = m.min(), m.max()
    return (m - lo) / (hi - lo) if hi > lo else torch.zeros_like(m)


def pixel_map(attr):
    """An input attribution [1, 3, H, W] as a pixel map: sum over channels of the absolute value, min-max normalised."""
    return normalise(attr[0].abs().sum(0))


def input_gradients(model, xs, cls, batch=16):
    """dS_cls/dx for each of xs [N, 3, H, W] (S = the logit), in batches."""
    grads = []
    for i in range(0, xs.shape[0], batch):
        xb = xs[i:i + batch].detach().clone().requires_grad_(True)
        model(xb)[:, cls].sum().backward()
        grads.append(xb.grad.detach())
    return torch.cat(grads)


def gaussian_blur(x, sigma):
    """Separable Gaussian (radius ceil(3 sigma), normalised taps) with reflected borders that do not repeat the edge
    (OpenCV's BORDER_REFLECT_101 = torch's 'reflect' padding), per channel."""
    r = int(np.ceil(3 * sigma))
    i = torch.arange(-r, r + 1, dtype=x.dtype)
    k = torch.exp(-0.5 * i * i / (sigma * sigma))
    k = k / k.sum()
    c = x.shape[1]
    h = F.conv2d(F.pad(x, (r, r, 0, 0), mode="reflect"), k.view(1, 1, 1, -1).repeat(c, 1, 1, 1), groups=c)
    return F.conv2d(F.pad(h, (0, 0, r, r), mode="reflect"), k.view(1, 1, -1, 1).repeat(c, 1, 1, 1), groups=c)


def integrated_gradients(model, x32, baseline32, cls, steps):
    """(x - x') * the midpoint-rule mean of the gradient at x' + (i - 1/2)/m (x - x'), i = 1..m.
    The path points are formed in float32, as the model's float32 input receives them (then the network runs in
    float64): near the black end the picture is almost uniform, and points that differ by float32 rounding may
    fall on different sides of the ReLU and MaxPool decisions of uniform regions (both valid subgradients)."""
    dtype = next(model.parameters()).dtype
    alphas = ((torch.arange(steps, dtype=torch.float64) + 0.5) / steps).to(torch.float32)
    delta = x32 - baseline32
    path = (baseline32 + alphas.view(-1, 1, 1, 1) * delta).to(dtype)
    return delta.to(dtype) * input_gradients(model, path, cls).mean(0, keepdim=True)


def ablation_cam(model, captured, x, a, score, cls, batch=64):
    """Desai & Ramaswamy: w_k = (y_c - y_c^k) / y_c with y_c^k the logit when channel k of the layer is zeroed and
    the network goes on from there (every channel, in batches); map = relu(sum_k w_k A_k)."""
    k = a.shape[1]
    drops = []
    with torch.no_grad():
        for start in range(0, k, batch):
            n = min(batch, k - start)
            mask = torch.ones(n, k, 1, 1, dtype=x.dtype)
            mask[torch.arange(n), torch.arange(start, start + n)] = 0
            captured["ablate"] = mask
            drops.append(score - model(x.expand(n, -1, -1, -1))[:, cls])
    del captured["ablate"]
    w = torch.cat(drops) / score if score != 0 else torch.cat(drops)
    return F.relu((w.view(1, -1, 1, 1) * a).sum(1, keepdim=True))


def finish(cam, size):
    up = F.interpolate(cam, size=size, mode="bilinear", align_corners=False)[0, 0]
    lo, hi = up.min(), up.max()
    return (up - lo) / (hi - lo) if hi > lo else torch.zeros_like(up)


def near_tie_candidates(pin, pool, rel_gap):
    """1 where a value of a MaxPool2d input is within rel_gap of its window's maximum in a window with two or more
    such values (a near-tie whose winner float32 rounding may change); max pools of zeros (ReLU) are left out."""
    k, s, p = (pool.kernel_size, pool.stride, pool.padding)
    k, s, p = (k, k) if isinstance(k, int) else k, (s, s) if isinstance(s, int) else s, (p, p) if isinstance(p, int) else p
    n, c, h, w = pin.shape
    out = F.max_pool2d(pin, k, s, p, ceil_mode=pool.ceil_mode)
    oh, ow = out.shape[2:]
    eh, ew = (oh - 1) * s[0] + k[0] - (h + 2 * p[0]), (ow - 1) * s[1] + k[1] - (w + 2 * p[1])
    padded = F.pad(pin, (p[1], p[1] + max(ew, 0), p[0], p[0] + max(eh, 0)), value=float("-inf"))
    cols = F.unfold(padded, k, stride=s).view(n, c, k[0] * k[1], oh * ow)
    top = cols.max(dim=2, keepdim=True).values
    near = (cols >= top - rel_gap * top.abs()) & (top > 0)
    tie = near & (near.sum(dim=2, keepdim=True) >= 2)
    folded = F.fold(tie.view(n, c * k[0] * k[1], oh * ow).double(), padded.shape[2:], k, stride=s)
    return folded[:, :, p[0]:p[0] + h, p[1]:p[1] + w] > 0


def tie_affected_inputs(model, x, rel_gap=1e-5):
    """Input elements whose gradient depends on the winner of a near-tie MaxPool window: the support of the gradient
    of sum(r * candidate values) for random positive r (both candidates' receptive fields, through the ReLU pattern)."""
    pools = [m for m in model.modules() if isinstance(m, torch.nn.MaxPool2d)]
    inputs = []
    handles = [m.register_forward_pre_hook(lambda m, i: inputs.append((m, i[0]))) for m in pools]
    xx = x.detach().clone().requires_grad_(True)
    model(xx)
    for h in handles:
        h.remove()
    g = torch.Generator().manual_seed(1)
    total, windows = 0, 0
    for m, pin in inputs:
        cand = near_tie_candidates(pin.detach(), m, rel_gap)
        windows += int(cand.sum())
        if cand.any():
            r = torch.rand(pin.shape, generator=g, dtype=pin.dtype) + 0.5
            total = total + (pin * cand * r).sum()
    if windows == 0:
        return torch.zeros_like(x, dtype=torch.bool), 0
    total.backward()
    return xx.grad != 0, windows


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("arch")
    p.add_argument("--out", required=True)
    p.add_argument("--image")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--class", dest="cls", type=int)
    p.add_argument("--opset", type=int, default=13)
    p.add_argument("--ablation", action="store_true", help="also Ablation-CAM (one forward pass per channel of the layer)")
    p.add_argument("--attributions", action="store_true",
                   help="also the input attributions: Gradient x Input, Integrated Gradients (black and blurred baselines), SmoothGrad")
    p.add_argument("--steps", type=int, default=16, help="Integrated Gradients steps (midpoint rule)")
    p.add_argument("--blur", type=float, default=10.0, help="sigma of the blurred baseline, in pixels")
    p.add_argument("--noise", help="SmoothGrad: .npy [n, 3, H, W] of unit normal draws (scaled here by 0.15 x the input range)")
    a = p.parse_args()
    torch.set_num_threads(os.cpu_count() or 1)

    export_torchvision.export(a.arch, a.out, False, a.seed, a.opset)
    layer = export_torchvision.target_layer(a.arch)
    if layer is None:
        raise SystemExit(f"no target layer defined for {a.arch}")

    torch.manual_seed(a.seed)
    model = getattr(torchvision.models, a.arch)(weights=None).eval().double()
    captured = {}

    def hook(module, inputs, output):
        # Keep the module's own output (and its gradient); the network goes on from a copy so that in-place ops
        # downstream (DenseNet's F.relu(..., inplace=True) after features.norm5) cannot rewrite it.
        if output.requires_grad:
            output.retain_grad()
        captured["a"] = output
        if "ablate" in captured:  # Ablation-CAM: per batch row, the layer's output times a 0/1 channel mask
            return output.clone() * captured["ablate"]
        return output.clone()

    model.get_submodule(layer).register_forward_hook(hook)
    x32 = load_input(a.image, a.seed)
    x = x32.double().requires_grad_(True)
    logits = model(x)
    cls = int(logits[0].argmax()) if a.cls is None else a.cls
    logits[0, cls].backward()
    act, g = captured["a"].detach(), captured["a"].grad.detach()
    size = tuple(x.shape[2:])
    maps = {"gradcam": finish(grad_cam(act, g), size), "gradcampp": finish(grad_cam_pp(act, g), size),
            "hirescam": finish(hires_cam(act, g), size), "xgradcam": finish(xgrad_cam(act, g), size),
            "layercam": finish(layer_cam(act, g), size), "eigencam": finish(eigen_cam(act), size)}

    if a.ablation:
        maps["ablationcam"] = finish(ablation_cam(model, captured, x.detach(), act, float(logits[0, cls]), cls), size)
        # Each weight is a small difference of two logits: float32 cancellation sets the floor (see the docstring).
        model32 = copy.deepcopy(model).float()
        with torch.no_grad():
            x32f, s32 = x.detach().float(), None
            out32 = model32(x32f)
            a32 = captured["a"].detach()
            s32 = float(out32[0, cls])
        maps["ablationcam_float32"] = finish(ablation_cam(model32, captured, x32f, a32, s32, cls).double(), size)

    if a.attributions:
        xd = x.detach()
        maps["gradinput"] = pixel_map(xd * x.grad.detach())
        black = (-torch.tensor([0.485, 0.456, 0.406], dtype=xd.dtype) / torch.tensor([0.229, 0.224, 0.225], dtype=xd.dtype)).view(1, 3, 1, 1).expand_as(xd)
        blurred = gaussian_blur(xd, a.blur)
        ig_black = integrated_gradients(model, x32, black.to(torch.float32), cls, a.steps)
        ig_blur = integrated_gradients(model, x32, blurred.to(torch.float32), cls, a.steps)
        # The same sums in float32: how far float32 rounding alone moves a sum of many gradients (see the docstring).
        model32 = copy.deepcopy(model).float()
        maps["integratedgradients_black_float32"] = pixel_map(integrated_gradients(model32, x32, black.to(torch.float32), cls, a.steps).double())
        maps["integratedgradients_blurred_float32"] = pixel_map(integrated_gradients(model32, x32, blurred.to(torch.float32), cls, a.steps).double())
        black, blurred = black.to(torch.float32).double(), blurred.to(torch.float32).double()
        maps["integratedgradients_black"] = pixel_map(ig_black)
        maps["integratedgradients_blurred"] = pixel_map(ig_blur)
        with torch.no_grad():
            ends = model(torch.cat([xd, black, blurred]))[:, cls]
        completeness = {"black": [float(ig_black.sum()), float(ends[0] - ends[1])], "blurred": [float(ig_blur.sum()), float(ends[0] - ends[2])]}
        if a.noise:
            z = torch.from_numpy(np.load(a.noise)).double()
            sigma = 0.15 * (float(x32.max()) - float(x32.min()))
            noisy = (x32 + (sigma * z).to(torch.float32)).double()  # the noisy copies in float32, as the model gets them
            maps["smoothgrad"] = pixel_map(input_gradients(model, noisy, cls).mean(0, keepdim=True))
            maps["smoothgrad_float32"] = pixel_map(input_gradients(model32, noisy.float(), cls).mean(0, keepdim=True).double())

    ref = os.path.join(a.out, a.arch, "reference")
    os.makedirs(ref, exist_ok=True)
    affected, candidates = tie_affected_inputs(model, x.detach())
    arrays = {"input": x32, "tie_affected": affected.to(torch.float32), "logits": logits.detach(), "activations": act, "layer_gradient": g,
              "input_gradient": x.grad.detach(), **maps}
    for name, t in arrays.items():
        np.save(os.path.join(ref, name + ".npy"), np.ascontiguousarray(t.numpy().astype(np.float32)))
    info = {"arch": a.arch, "layer": layer, "class": cls, "seed": a.seed, "image": a.image,
            "shapes": {k: list(v.shape) for k, v in arrays.items()},
            "near_tie_candidates": candidates, "ig_steps": a.steps, "ig_blur": a.blur,
            "ig_completeness": completeness if a.attributions else None, "tie_affected_inputs": int(affected.sum()),
            "torch": torch.__version__, "torchvision": torchvision.__version__, "precision": "float64"}
    with open(os.path.join(ref, "reference.json"), "w") as f:
        json.dump(info, f, indent=2)
    print(json.dumps({"arch": a.arch, "layer": layer, "class": cls, "activations": list(act.shape)}))


if __name__ == "__main__":
    main()
