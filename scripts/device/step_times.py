#!/usr/bin/env python3
"""Measures forward-step times of a Llama-shaped model with random BF16 weights on one GPU, for
`fleetsim calibrate` (a CSV `prefill_tokens,decode_seqs,context_tokens,step_ms`).

Why: fleetsim's step-time model (src/perf/roofline.rs) has no Hopper BF16 figure to fit in its
current-vLLM profile (docs/VALIDATION.md). This script measures what the GPU's kernels take for
the batch shapes a serving engine runs, so the roofline's memory efficiency (weights and KV read
at small batch), compute efficiency (prefill chunks) and attention cost can be checked against a
real Hopper, not a published intercept.

What a step is, as in vLLM V1: one forward pass over a flat batch of `P + D` tokens, a prefill
chunk of `P` new tokens (no prior context) and `D` decoding sequences of `C` cached tokens each
(`context_tokens` = D x C). Every linear layer is one matrix multiply over all tokens; attention
is causal over the chunk for the prefill and reads each decoder's cache for the decode; the new
tokens' K and V are written into the cache; logits are computed only for the last token of the
chunk and each decoder (as vLLM does), then argmax. Each shape is captured once as a CUDA graph
(vLLM replays CUDA graphs for decode batches; prefill runs under torch.compile's piecewise
graphs) and replayed; the step time is the median of the replays, timed with CUDA events.

What it is not: vLLM. No fused kernels (RMSNorm, SiLU-and-mul and rotary run as separate
PyTorch ops), no paged KV (each decoder's cache is contiguous), no scheduler, sampler or
detokenizer on the CPU. The time is GPU time only: an engine's per-step CPU work is not in it.
So it bounds the memory and compute terms from below; the per-step overhead fleetsim fits to
published engine figures stays those figures' to set.

Also measured once, as ceilings: a large device-to-device copy (bytes read plus written) and a
large BF16 matrix product. Both go to the JSON beside the CSV.

usage:
  python3 scripts/device/step_times.py --out DIR [--config models/x/config.json]
      [--kv-budget-gib 60] [--replays 20] [--quick]
  then, here:  fleetsim calibrate DIR/steps.csv --model llama-3.1-8b --gpu h200

`--tiny` runs a two-layer, 256-wide model on the CPU (eager, no graphs): a check that the
script runs, not a measurement.
"""
import argparse
import json
import math
import os
import statistics
import sys
import time

import torch
import torch.nn.functional as F

# Llama-3.1-8B (meta-llama/Llama-3.1-8B config.json).
LLAMA_8B = {
    "hidden_size": 4096,
    "intermediate_size": 14336,
    "num_hidden_layers": 32,
    "num_attention_heads": 32,
    "num_key_value_heads": 8,
    "head_dim": 128,
    "vocab_size": 128256,
    "rms_norm_eps": 1e-5,
}
TINY = {
    "hidden_size": 256,
    "intermediate_size": 512,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "head_dim": 64,
    "vocab_size": 1000,
    "rms_norm_eps": 1e-5,
}


def shape_of(cfg):
    """The fields the forward pass needs, from a Hugging Face config (dense models only)."""
    for key in ("num_local_experts", "n_routed_experts", "num_experts"):
        if cfg.get(key):
            sys.exit(f"config: `{key}` is set: this script measures dense models only")
    h = cfg["hidden_size"]
    heads = cfg["num_attention_heads"]
    return {
        "hidden": h,
        "inter": cfg["intermediate_size"],
        "layers": cfg["num_hidden_layers"],
        "heads": heads,
        "kv_heads": cfg.get("num_key_value_heads", heads),
        "head_dim": cfg.get("head_dim") or h // heads,
        "vocab": cfg["vocab_size"],
        "eps": cfg.get("rms_norm_eps", 1e-5),
    }


class Model:
    """Random BF16 weights of a Llama-shaped decoder, laid out as vLLM fuses them: one QKV
    matrix, one gate-and-up matrix per layer."""

    def __init__(self, s, device, dtype):
        self.s = s
        g = torch.Generator(device=device).manual_seed(0)

        def w(*shape):
            # Scaled so activations stay finite through many layers (values do not matter for
            # time, but NaN or inf could take slower paths). Drawn on the device: 8 billion
            # draws on one CPU core would take half a minute.
            t = torch.randn(*shape, generator=g, device=device, dtype=dtype)
            return t.mul_(1.0 / math.sqrt(shape[0]))

        h, hd = s["hidden"], s["head_dim"]
        qkv = (s["heads"] + 2 * s["kv_heads"]) * hd
        self.layers = []
        for _ in range(s["layers"]):
            self.layers.append(
                {
                    "ln1": torch.ones(h, device=device, dtype=dtype),
                    "qkv": w(h, qkv),
                    "o": w(s["heads"] * hd, h),
                    "ln2": torch.ones(h, device=device, dtype=dtype),
                    "gate_up": w(h, 2 * s["inter"]),
                    "down": w(s["inter"], h),
                }
            )
        self.norm = torch.ones(h, device=device, dtype=dtype)
        self.embed = w(s["vocab"], h)
        self.lm_head = w(h, s["vocab"])
        self.weight_bytes = sum(
            t.numel() * t.element_size()
            for layer in self.layers
            for t in layer.values()
        ) + self.lm_head.numel() * self.lm_head.element_size()


def rms_norm(x, weight, eps):
    v = x.float().pow(2).mean(-1, keepdim=True)
    return (x.float() * torch.rsqrt(v + eps)).to(x.dtype) * weight


def rotary(x, pos, base=500000.0):
    """Rotary embedding on the last dimension of x [tokens, heads, head_dim] at positions pos."""
    d = x.shape[-1]
    inv = 1.0 / (base ** (torch.arange(0, d, 2, device=x.device, dtype=torch.float32) / d))
    ang = pos.float()[:, None] * inv[None, :]
    cos, sin = ang.cos()[:, None, :].to(x.dtype), ang.sin()[:, None, :].to(x.dtype)
    x1, x2 = x[..., : d // 2], x[..., d // 2 :]
    return torch.cat((x1 * cos - x2 * sin, x2 * cos + x1 * sin), dim=-1)


class Step:
    """One batch shape: P prefill tokens and D decoders of C cached tokens each, with static
    input buffers and its own KV cache (one tensor per layer, so no layer reads another's
    cache out of L2)."""

    def __init__(self, model, p, d, c, device, dtype):
        s = model.s
        self.m, self.p, self.d, self.c = model, p, d, c
        kv, hd = s["kv_heads"], s["head_dim"]
        self.tokens = torch.zeros(p + d, dtype=torch.long, device=device)
        self.pos = torch.cat(
            (
                torch.arange(p, device=device),
                torch.full((d,), c, device=device, dtype=torch.long),
            )
        )
        # Decoders' caches hold C cached tokens plus the slot the new token is written to.
        self.k = [torch.zeros(d, kv, c + 1, hd, device=device, dtype=dtype) for _ in model.layers]
        self.v = [torch.zeros(d, kv, c + 1, hd, device=device, dtype=dtype) for _ in model.layers]
        self.logit_rows = torch.tensor(
            ([p - 1] if p else []) + list(range(p, p + d)), device=device, dtype=torch.long
        )
        self.out = None

    def kv_bytes(self):
        return sum(t.numel() * t.element_size() for t in self.k + self.v)

    def forward(self):
        m, s = self.m, self.m.s
        p, d, c = self.p, self.d, self.c
        heads, kvh, hd, eps = s["heads"], s["kv_heads"], s["head_dim"], s["eps"]
        x = F.embedding(self.tokens, m.embed)
        for i, layer in enumerate(m.layers):
            r = x
            x = rms_norm(x, layer["ln1"], eps)
            qkv = x @ layer["qkv"]
            q, k, v = qkv.split((heads * hd, kvh * hd, kvh * hd), dim=-1)
            q = rotary(q.view(-1, heads, hd), self.pos)
            k = rotary(k.view(-1, kvh, hd), self.pos)
            v = v.view(-1, kvh, hd)
            outs = []
            if p:
                # Causal attention over the chunk: [1, heads, P, hd].
                qp = q[:p].transpose(0, 1).unsqueeze(0)
                kp = k[:p].transpose(0, 1).unsqueeze(0)
                vp = v[:p].transpose(0, 1).unsqueeze(0)
                a = F.scaled_dot_product_attention(qp, kp, vp, is_causal=True, enable_gqa=True)
                outs.append(a.squeeze(0).transpose(0, 1).reshape(p, heads * hd))
            if d:
                # Write the new token's K and V at slot C, then attend over C + 1 tokens.
                self.k[i][:, :, c] = k[p:]
                self.v[i][:, :, c] = v[p:]
                qd = q[p:].unsqueeze(2)  # [D, heads, 1, hd]
                a = F.scaled_dot_product_attention(qd, self.k[i], self.v[i], enable_gqa=True)
                outs.append(a.reshape(d, heads * hd))
            x = r + (torch.cat(outs) if len(outs) > 1 else outs[0]) @ layer["o"]
            r = x
            x = rms_norm(x, layer["ln2"], eps)
            gate, up = (x @ layer["gate_up"]).chunk(2, dim=-1)
            x = r + (F.silu(gate) * up) @ layer["down"]
        x = rms_norm(x[self.logit_rows], m.norm, eps)
        self.out = (x @ m.lm_head).argmax(-1)
        return self.out


def time_step(step, replays, graphs):
    """Median milliseconds of `replays` runs of the step (a CUDA graph replay where `graphs`)."""
    if not graphs:
        step.forward()
        times = []
        for _ in range(replays):
            t0 = time.perf_counter()
            step.forward()
            times.append((time.perf_counter() - t0) * 1e3)
        return statistics.median(times)
    s = torch.cuda.Stream()
    s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s):
        for _ in range(2):
            step.forward()
    torch.cuda.current_stream().wait_stream(s)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        step.forward()
    graph.replay()
    torch.cuda.synchronize()
    times = []
    for _ in range(replays):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        graph.replay()
        b.record()
        b.synchronize()
        times.append(a.elapsed_time(b))
    del graph
    return statistics.median(times)


def ceilings(device, dtype):
    """A device-to-device copy's bandwidth (read + written) and a BF16 matrix product's rate."""
    n = 1 << 30  # 2 GiB of BF16 each way
    a = torch.empty(n, device=device, dtype=dtype)
    b = torch.empty_like(a)
    for _ in range(3):
        b.copy_(a)
    torch.cuda.synchronize()
    e0, e1 = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    e0.record()
    for _ in range(10):
        b.copy_(a)
    e1.record()
    e1.synchronize()
    copy_tbps = 10 * 2 * a.numel() * a.element_size() / (e0.elapsed_time(e1) * 1e-3) / 1e12
    del a, b
    k = 8192
    x = torch.randn(k, k, device=device, dtype=dtype)
    y = torch.randn(k, k, device=device, dtype=dtype)
    for _ in range(3):
        x @ y
    torch.cuda.synchronize()
    e0.record()
    for _ in range(10):
        x @ y
    e1.record()
    e1.synchronize()
    tflops = 10 * 2 * k**3 / (e0.elapsed_time(e1) * 1e-3) / 1e12
    return {"copy_tb_per_s_read_plus_write": copy_tbps, "bf16_matmul_8192_tflops": tflops}


def grid(quick):
    """(prefill tokens, decoders, context per decoder) of every shape measured."""
    shapes = []
    ds = [1, 8, 64] if quick else [1, 2, 4, 8, 16, 32, 64, 128, 256]
    cs = [1024, 16384] if quick else [128, 1024, 4096, 16384, 32768]
    for d in ds:
        for c in cs:
            shapes.append((0, d, c))
    shapes += [(0, 1, 65536), (0, 1, 100000)]
    ps = [512, 4096] if quick else [128, 512, 1024, 2048, 4096, 8192]
    for p in ps:
        for d in [0, 16] if quick else [0, 16, 64]:
            shapes.append((p, d, 1024))
    return shapes


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--config", help="Hugging Face config.json (default: Llama-3.1-8B's shape)")
    ap.add_argument("--kv-budget-gib", type=float, default=60.0)
    ap.add_argument("--replays", type=int, default=20)
    ap.add_argument("--quick", action="store_true", help="a small grid (about a minute)")
    ap.add_argument("--tiny", action="store_true", help="a tiny model on the CPU: a smoke test")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    if args.tiny:
        device, graphs, cfg = "cpu", False, TINY
    else:
        if not torch.cuda.is_available():
            sys.exit("no CUDA device (use --tiny for a CPU smoke test)")
        device, graphs = "cuda", True
        cfg = json.load(open(args.config)) if args.config else LLAMA_8B
    dtype = torch.bfloat16
    torch.manual_seed(0)
    s = shape_of(cfg)
    model = Model(s, device, dtype)
    meta = {
        "model_shape": s,
        "weight_bytes_read_per_step": model.weight_bytes,
        "dtype": "bfloat16",
        "torch": torch.__version__,
        "device": torch.cuda.get_device_name() if graphs else "cpu",
        "graphs": graphs,
        "replays": args.replays,
        "method": "median of CUDA-graph replays timed with CUDA events; GPU time only"
        if graphs
        else "median wall time of eager CPU runs: a smoke test, not a measurement",
    }
    if graphs:
        meta["ceilings"] = ceilings(device, dtype)
        print(json.dumps(meta["ceilings"]), flush=True)
    shapes = grid(args.quick) if not args.tiny else [(0, 1, 64), (0, 4, 128), (64, 0, 0), (32, 2, 64)]
    kv_per_token = 2 * s["layers"] * s["kv_heads"] * s["head_dim"] * 2
    rows, skipped = [], []
    for p, d, c in shapes:
        if d * (c + 1) * kv_per_token > args.kv_budget_gib * 2**30:
            skipped.append([p, d, c])
            continue
        step = Step(model, p, d, c, device, dtype)
        ms = time_step(step, args.replays, graphs)
        rows.append((p, d, d * c, ms))
        print(f"prefill {p:5d}  decoders {d:4d} x {c:6d} cached  {ms:9.3f} ms", flush=True)
        del step
        if graphs:
            torch.cuda.empty_cache()
    with open(os.path.join(args.out, "steps.csv"), "w") as f:
        f.write("prefill_tokens,decode_seqs,context_tokens,step_ms\n")
        for p, d, ctx, ms in rows:
            f.write(f"{p},{d},{ctx},{ms:.4f}\n")
    meta["skipped_over_kv_budget"] = skipped
    with open(os.path.join(args.out, "steps.json"), "w") as f:
        json.dump(meta, f, indent=1)
    print(f"wrote {args.out}/steps.csv ({len(rows)} steps) and steps.json")


if __name__ == "__main__":
    main()
