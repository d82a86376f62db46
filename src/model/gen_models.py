#!/usr/bin/env python3
"""Writes suites/models/*.json: the layer lists of the built-in models (run from the repo root).

The JSON files are the data suanli reads; this script only saves typing them by hand.
"""
import json


def resnet50(name, image=224, blocks=(3, 4, 6, 3), width=64, classes=1000, desc=None):
    L = []
    L.append({"name": "conv1", "op": "conv", "in": "image", "out": "c1", "k": width, "r": 7,
              "stride": 2, "pad": 3, "act": "relu"})
    L.append({"name": "pool1", "op": "maxpool", "in": "c1", "out": "p1", "r": 3, "stride": 2,
              "pad": 1})
    cur = "p1"
    for stage, n in enumerate(blocks):
        mid = width * (2 ** stage)
        out = mid * 4
        y = f"y{stage + 2}"
        for b in range(n):
            stride = 2 if (b == 0 and stage > 0) else 1
            p = f"s{stage + 2}b{b + 1}"
            L.append({"name": p + ".conv1", "op": "conv", "in": cur, "out": "t1", "k": mid,
                      "r": 1, "act": "relu"})
            # ResNet v1.5: the stride sits on the 3x3 convolution.
            L.append({"name": p + ".conv2", "op": "conv", "in": "t1", "out": "t2", "k": mid,
                      "r": 3, "stride": stride, "pad": 1, "act": "relu"})
            if b == 0:  # projection shortcut into the stage's own tensor
                L.append({"name": p + ".shortcut", "op": "conv", "in": cur, "out": y,
                          "k": out, "r": 1, "stride": stride})
                cur = y
            # conv3 adds its result to the shortcut in place ("residual"), then relu.
            L.append({"name": p + ".conv3", "op": "conv", "in": "t2", "out": cur,
                      "k": out, "r": 1, "residual": True, "act": "relu"})
    L.append({"name": "avgpool", "op": "global_avgpool", "in": cur, "out": "feat"})
    L.append({"name": "fc", "op": "linear", "in": "feat", "out": "logits", "n": classes})
    return {"suanli_model": 1, "name": name,
            "description": desc or "ResNet-50 v1.5 (stride on the 3x3 convolution), NHWC, "
            "batch norm folded into the convolutions' bias as for inference",
            "sample": "image", "input": {"name": "image", "shape": [image, image, 3]},
            "output": "logits", "layers": L}


def main():
    models = {
        "resnet50": resnet50("resnet50"),
        "resnet_tiny": resnet50("resnet_tiny", image=32, blocks=(1, 1, 1, 1), width=8, classes=10,
                                desc="A ResNet-50-shaped network scaled down (32x32 input, one "
                                "bottleneck per stage, width 8) for quick runs and tests"),
    }
    for n, m in models.items():
        with open(f"suites/models/{n}.json", "w") as f:
            f.write(json.dumps(m, indent=1) + "\n")


if __name__ == "__main__":
    main()
