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


def llama(name, hidden=4096, heads=32, ffn=11008, layers=32, ctx=None, seq=None, desc=""):
    """LLaMA-shaped decoder stack. ctx: decode (one new token per sample against a KV cache of
    ctx positions, the new K/V written at position 0); seq: prefill of seq tokens (causal)."""
    decode = ctx is not None
    B = []
    B.append({"name": "L{L}.attn_norm", "op": "rmsnorm", "in": "x", "out": "h", "eps": 1e-6})
    B.append({"name": "L{L}.q", "op": "linear", "in": "h", "out": "q", "n": hidden,
              "bias": False})
    for t in ("k", "v"):
        lyr = {"name": "L{L}." + t, "op": "linear", "in": "h", "n": hidden, "bias": False}
        if decode:
            lyr.update({"out": t + "cache{L}", "cache": ctx})
        else:
            lyr["out"] = t
        B.append(lyr)
    kk, vv = ("kcache{L}", "vcache{L}") if decode else ("k", "v")
    sc = {"name": "L{L}.scores", "op": "attention_scores", "in": "q", "kv": kk, "heads": heads,
          "out": "s"}
    B.append(sc)
    if not decode:  # causal: an element-wise add (oneDNN 2.6 has no fast broadcast-mask matmul)
        B.append({"name": "L{L}.mask", "op": "causal_mask", "in": "s", "out": "sm",
                  "heads": heads})
    B.append({"name": "L{L}.softmax", "op": "softmax", "in": "sm" if not decode else "s",
              "out": "p"})
    B.append({"name": "L{L}.pv", "op": "attention_values", "in": "p", "kv": vv, "heads": heads,
              "out": "a"})
    B.append({"name": "L{L}.o", "op": "linear", "in": "a", "out": "x", "n": hidden,
              "bias": False, "residual": True})
    B.append({"name": "L{L}.mlp_norm", "op": "rmsnorm", "in": "x", "out": "h", "eps": 1e-6})
    B.append({"name": "L{L}.gate", "op": "linear", "in": "h", "out": "g", "n": ffn,
              "bias": False})
    B.append({"name": "L{L}.up", "op": "linear", "in": "h", "out": "u", "n": ffn, "bias": False})
    B.append({"name": "L{L}.swiglu", "op": "act_mul", "in": "g", "in2": "u", "out": "gu",
              "act": "silu"})
    B.append({"name": "L{L}.down", "op": "linear", "in": "gu", "out": "x", "n": hidden,
              "bias": False, "residual": True})
    L = [{"name": "input_norm", "op": "rmsnorm", "in": "hidden_in", "out": "x", "eps": 1e-6},
         {"repeat": layers, "layers": B},
         {"name": "final_norm", "op": "rmsnorm", "in": "x", "out": "out", "eps": 1e-6}]
    m = {"suanli_model": 1, "name": name,
         "description": desc + " Decoder layers: RMS norm, Q/K/V projections, attention per "
         "head read in place (scores = QK^T/sqrt(d_head), softmax, PV), output projection + "
         "residual, RMS norm, SwiGLU MLP (gate/up/down) + residual; no biases; rotary "
         "embedding left out (elementwise, no FLOPs of note). The input hidden states go "
         "through one RMS norm (standing in for the embedding lookup) and the stack ends with "
         "the final RMS norm (no LM head).",
         "sample": "token" if decode else "sequence",
         "input": {"name": "hidden_in", "shape": [1 if decode else seq, hidden]},
         "output": "out", "layers": L}
    if not decode and seq > 16:
        m["verify_tokens"] = 16
    return m


def bert(name, hidden=1024, heads=16, ffn=4096, layers=24, seq=384, desc=""):
    B = []
    for t in ("q", "k", "v"):
        B.append({"name": "L{L}." + t, "op": "linear", "in": "x", "out": t, "n": hidden})
    B.append({"name": "L{L}.scores", "op": "attention_scores", "in": "q", "kv": "k",
              "heads": heads, "out": "s"})
    B.append({"name": "L{L}.softmax", "op": "softmax", "in": "s", "out": "p"})
    B.append({"name": "L{L}.pv", "op": "attention_values", "in": "p", "kv": "v", "heads": heads,
              "out": "a"})
    B.append({"name": "L{L}.o", "op": "linear", "in": "a", "out": "x", "n": hidden,
              "residual": True})
    B.append({"name": "L{L}.ln1", "op": "layernorm", "in": "x", "out": "h", "eps": 1e-12})
    B.append({"name": "L{L}.ffn_up", "op": "linear", "in": "h", "out": "f", "n": ffn,
              "act": "gelu"})
    B.append({"name": "L{L}.ffn_down", "op": "linear", "in": "f", "out": "h", "n": hidden,
              "residual": True})
    B.append({"name": "L{L}.ln2", "op": "layernorm", "in": "h", "out": "x", "eps": 1e-12})
    L = [{"name": "embed_ln", "op": "layernorm", "in": "embeddings", "out": "x", "eps": 1e-12},
         {"repeat": layers, "layers": B}]
    m = {"suanli_model": 1, "name": name,
         "description": desc + " Post-LN encoder layers: Q/K/V projections with bias, "
         "attention per head read in place (no mask: one full-length sequence), output "
         "projection + residual, layer norm, FFN with GELU (tanh) + residual, layer norm; the "
         "embedding sums go in through the embedding layer norm (no lookup, no pooler).",
         "sample": "sequence", "input": {"name": "embeddings", "shape": [seq, hidden]},
         "output": "x", "layers": L}
    if seq > 16:
        m["verify_tokens"] = 16
    return m


def main():
    models = {
        "resnet50": resnet50("resnet50"),
        "resnet_tiny": resnet50("resnet_tiny", image=32, blocks=(1, 1, 1, 1), width=8, classes=10,
                                desc="A ResNet-50-shaped network scaled down (32x32 input, one "
                                "bottleneck per stage, width 8) for quick runs and tests"),
        "llama7b_decode_ctx1024": llama("llama7b_decode_ctx1024", ctx=1024,
                                        desc="LLaMA-7B-shaped decode step (hidden 4096, 32 heads, "
                                        "MLP 11008, 32 layers) against a KV cache of 1024."),
        "llama7b_decode_ctx4096": llama("llama7b_decode_ctx4096", ctx=4096,
                                        desc="LLaMA-7B-shaped decode step (hidden 4096, 32 heads, "
                                        "MLP 11008, 32 layers) against a KV cache of 4096."),
        "llama7b_prefill_1024": llama("llama7b_prefill_1024", seq=1024,
                                      desc="LLaMA-7B-shaped prefill of 1024 tokens (causal), "
                                      "hidden 4096, 32 heads, MLP 11008, 32 layers."),
        "llama_tiny_decode": llama("llama_tiny_decode", hidden=64, heads=4, ffn=172, layers=2,
                                   ctx=32, desc="A LLaMA-shaped decoder scaled down (hidden 64, "
                                   "4 heads, MLP 172, 2 layers, KV cache 32) for quick runs and "
                                   "tests."),
        "llama_tiny_prefill": llama("llama_tiny_prefill", hidden=64, heads=4, ffn=172, layers=2,
                                    seq=16, desc="A LLaMA-shaped prefill scaled down (hidden 64, "
                                    "4 heads, MLP 172, 2 layers, 16 tokens)."),
        "bert_large": bert("bert_large", desc="BERT-large encoder (24 layers, hidden 1024, 16 "
                           "heads, FFN 4096), sequence 384, inference."),
        "bert_tiny": bert("bert_tiny", hidden=64, heads=4, ffn=256, layers=2, seq=16,
                          desc="A BERT-shaped encoder scaled down (hidden 64, 4 heads, FFN 256, "
                          "2 layers, sequence 16) for quick runs and tests."),
    }
    for n, m in models.items():
        with open(f"suites/models/{n}.json", "w") as f:
            f.write(json.dumps(m, indent=1) + "\n")


if __name__ == "__main__":
    main()
