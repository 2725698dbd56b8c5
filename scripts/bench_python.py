#!/usr/bin/python3
"""The Python eager PyTorch side of scripts/bench.sh: the same model as a
nextbeat events model (embeddings -> stacked LSTM -> head), loaded from the
same .nbm file, timed one step at a time; and the same model trained with a
plain Python loop. Prints one JSON object.

Debian's python3-torch lives under /usr/bin/python3 (not the python3 first on
PATH on some machines), hence the shebang.

  bench_python.py step --model FILE [--steps N] [--threads T]
  bench_python.py train --model FILE [--steps N] [--batch B] [--window W] [--threads T]
"""
import argparse
import json
import math
import struct
import sys
import time

import torch
from torch import nn


def read_nbm(path):
    """The header and float32 tensors of a nextbeat model file (engine/model/ModelFile.h)."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:8] != b"NXTBEAT\0" or data[-4:] != b"END\0":
        sys.exit(f"{path}: not a nextbeat model file")
    (header_len,) = struct.unpack_from("<Q", data, 16)
    header = json.loads(data[24:24 + header_len])
    base = 24 + header_len
    tensors = {}
    for t in header["tensors"]:
        if t["dtype"] != "f32":
            continue
        raw = data[base + t["offset"]: base + t["offset"] + t["bytes"]]
        tensors[t["name"]] = torch.frombuffer(bytearray(raw), dtype=torch.float32).reshape(t["shape"])
    return header, tensors


class EventsLstm(nn.Module):
    """engine/model/Model.cpp's LstmNetImpl for the events codec, module for module."""

    def __init__(self, spec):
        super().__init__()
        c = spec["codec"]
        e, h = spec["embed"], spec["hidden"]
        self.token_embed = nn.Embedding(spec["input_size"] + 1, e)
        self.position_inputs = spec["position_inputs"]
        if self.position_inputs:
            self.beat_embed = nn.Embedding(c["ticks_per_beat"], e)
            self.bar_embed = nn.Embedding(16, e)
            self.source_embed = nn.Embedding(2, e)
        self.in_drop = nn.Dropout(spec["dropout"])
        self.out_drop = nn.Dropout(spec["dropout"])
        layers = spec["layers"]
        self.lstm = nn.LSTM(e, h, num_layers=layers, dropout=spec["dropout"] if layers > 1 else 0.0,
                            batch_first=True)
        self.head = nn.Linear(h, spec["input_size"])

    def forward(self, tokens, beat, bar, source, state=None):
        x = self.token_embed(tokens)
        if self.position_inputs:
            x = x + self.beat_embed(beat) + self.bar_embed(bar) + self.source_embed(source)
        out, state = self.lstm(self.in_drop(x), state)
        return self.head(self.out_drop(out)), state


def load_model(path):
    header, tensors = read_nbm(path)
    spec = header["spec"]
    if spec["codec"]["kind"] != "events":
        sys.exit(f"{path}: bench_python.py handles the events codec only")
    model = EventsLstm(spec)
    model.load_state_dict(tensors, strict=True)
    return spec, model


def percentile(values, q):
    s = sorted(values)
    return s[int(q * (len(s) - 1))]


def bench_step(args):
    spec, model = load_model(args.model)
    model.eval()
    gen = torch.Generator().manual_seed(1)
    vocab, tpb = spec["input_size"], spec["codec"]["ticks_per_beat"]
    tokens = torch.randint(0, vocab, (args.steps,), generator=gen)
    times = []
    with torch.inference_mode():
        state = None
        for i in range(args.steps):
            t = tokens[i].view(1, 1)
            beat = torch.tensor([[i % tpb]])
            bar = torch.tensor([[(i // tpb) % 4]])
            source = torch.zeros(1, 1, dtype=torch.long)
            t0 = time.perf_counter_ns()
            logits, state = model(t, beat, bar, source, state)
            times.append(time.perf_counter_ns() - t0)
            if i % 16 == 15:
                time.sleep(0.0002)  # as nextbeat bench does between bursts
    us = [t / 1000 for t in times]
    return {"what": "python eager step", "torch": torch.__version__, "threads": torch.get_num_threads(),
            "step_us": {"count": len(us), "p50": percentile(us, 0.5), "p99": percentile(us, 0.99),
                        "p999": percentile(us, 0.999), "max": max(us), "mean": sum(us) / len(us)}}


def bench_train(args):
    """nextbeat train's loop (engine/offline/Trainer.cpp) in Python: AdamW, warm-up then
    cosine learning rate, gradient clipping, dropout, full windows of random
    tokens (nextbeat's windows are real music, partly padded: its tokens/s
    counts real targets only, so this favours Python)."""
    spec, model = load_model(args.model)
    torch.manual_seed(1)
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
    vocab, tpb = spec["input_size"], spec["codec"]["ticks_per_beat"]
    b, w = args.batch, args.window
    gen = torch.Generator().manual_seed(2)
    tokens_done = 0
    started = None
    for step in range(args.steps + args.warmup):
        if step == args.warmup:  # the first steps allocate; time the rest
            started = time.perf_counter()
            tokens_done = 0
        seq = torch.randint(0, vocab, (b, w + 1), generator=gen)
        inputs, targets = seq[:, :-1], seq[:, 1:]
        pos = torch.arange(w).expand(b, w)
        beat, bar = pos % tpb, (pos // tpb) % 4
        source = torch.zeros(b, w, dtype=torch.long)
        mask = torch.ones(b, w)
        logits, _ = model(inputs, beat, bar, source)
        nll = nn.functional.cross_entropy(logits.reshape(-1, vocab), targets.reshape(-1),
                                          reduction="none").view(b, w) * mask
        targets_n = int(mask.sum().item())
        loss = nll.sum() / targets_n
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        lr = args.lr * 0.5 * (1 + math.cos(math.pi * step / max(1, args.steps + args.warmup)))
        for g in opt.param_groups:
            g["lr"] = lr
        opt.step()
        _ = nll.sum().item()
        tokens_done += targets_n
    seconds = time.perf_counter() - started
    return {"what": "python eager training loop", "torch": torch.__version__, "threads": torch.get_num_threads(),
            "batch": b, "window": w, "steps": args.steps, "seconds": seconds,
            "tokens_per_second": tokens_done / seconds}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="what", required=True)
    s = sub.add_parser("step")
    s.add_argument("--model", required=True)
    s.add_argument("--steps", type=int, default=20000)
    s.add_argument("--threads", type=int, default=1)
    t = sub.add_parser("train")
    t.add_argument("--model", required=True, help="the architecture and starting weights")
    t.add_argument("--steps", type=int, default=10)
    t.add_argument("--warmup", type=int, default=2)
    t.add_argument("--batch", type=int, default=16)
    t.add_argument("--window", type=int, default=256)
    t.add_argument("--lr", type=float, default=3e-3)
    t.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    result = bench_step(args) if args.what == "step" else bench_train(args)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
