#!/usr/bin/env python3
"""hlrr beside QEMU (TCG, -icount record/replay) on the same guest code, for bench/run.

   compare.py BUILD_DIR KERNEL_DIR [--json] [--qemu-runs N]

Runs compute.c's sort_hash and chatty.c's chatter as whole processes on both sides (hlrun /
hlreplay; qemu-system-x86_64 with the multiboot kernels of bench/qemu/build.sh), interleaved,
and prints medians with hlrr/QEMU ratios in bench_table.h's format. Times are CPU seconds
(user + sys) of the process: on a shared machine wall time measures the neighbours. Both
sides must print the same answers, or this exits 1.
"""
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

QEMU = ["qemu-system-x86_64", "-nodefaults", "-display", "none", "-no-reboot", "-m", "256",
        "-accel", "tcg", "-debugcon", "stdio", "-device", "isa-debug-exit,iobase=0xf4,iosize=1"]
SORT_N, SMALL_N, CHAT_N = 2500000, 250000, 100000


def run(cmd, ok_codes=(0,)):
    """Runs cmd; returns (cpu seconds, wall seconds, stdout)."""
    with tempfile.TemporaryFile() as out:
        t0 = time.monotonic()
        p = subprocess.Popen(cmd, stdout=out, stderr=subprocess.PIPE)
        _, status, usage = os.wait4(p.pid, 0)
        wall = time.monotonic() - t0
        err = p.stderr.read().decode(errors="replace")
        p.stderr.close()
        out.seek(0)
        text = out.read().decode(errors="replace")
    code = os.waitstatus_to_exitcode(status)
    if code not in ok_codes:
        sys.exit(f"compare: {' '.join(cmd)} exited {code}: {err.strip()[-300:]}")
    return usage.ru_utime + usage.ru_stime, wall, text


def answer(text):
    found = re.findall(r"result: (-?\d+)", text)
    return found[-1] if found else None


class Sides:
    def __init__(self, build, kernels, work):
        self.hlrun = [f"{build}/cli/hlrun", "--vcpu", "unicorn", "--timeout", "0", "--mem", "64M"]
        self.hlreplay = f"{build}/cli/hlreplay"
        self.guests = f"{build}/guests"
        self.kernels = kernels
        self.work = work
        self.answers = {}

    def check(self, key, side, text):
        value = answer(text)
        self.answers.setdefault(key, {})[side] = value
        if value is None or len(set(self.answers[key].values())) > 1:
            sys.exit(f"compare: {key}: answers differ: {self.answers[key]}")

    def hlrr(self, guest, call, record=None):
        cmd = self.hlrun + [f"{self.guests}/{guest}.elf", "--call"] + call.split()
        if record:
            cmd += ["--record", record]
        cpu, _, text = run(cmd)
        self.check(call, "hlrr", text)
        return cpu

    def hlrr_replay(self, trace):
        cpu, _, text = run([self.hlreplay, "--check", trace])
        m = re.search(r"deterministic: (\d+) exits, (\d+) instructions", text)
        if not m:
            sys.exit(f"compare: hlreplay --check {trace}: {text.strip()[-300:]}")
        return cpu, int(m.group(2))

    def qemu(self, kernel, call, rr=None, rrfile=None):
        cmd = QEMU + ["-kernel", f"{self.kernels}/{kernel}.bin", "-append", call]
        if rr:
            cmd += ["-icount", f"shift=auto,rr={rr},rrfile={rrfile}"]
        cpu, _, text = run(cmd, ok_codes=(1,))  # isa-debug-exit: (0 << 1) | 1
        self.check(call, "qemu", text)
        return cpu


def measure(s, runs):
    t = {}

    def add(key, value):
        t.setdefault(key, []).append(value)

    w = s.work
    sort = f"sort_hash {SORT_N} 1"
    chat = f"chatter {CHAT_N}"
    for _ in range(runs):
        add("h_small", s.hlrr("compute_release", f"sort_hash {SMALL_N} 1"))
        add("q_small", s.qemu("compute", f"sort_hash {SMALL_N} 1"))
        add("h_zero", s.hlrr("compute_release", "sort_hash 0 1"))
        add("q_zero", s.qemu("compute", "sort_hash 0 1"))
        add("h_sort", s.hlrr("compute_release", sort))
        add("q_sort", s.qemu("compute", sort))
        add("h_sort_rec", s.hlrr("compute_release", sort, record=f"{w}/sort.hlrr"))
        add("q_sort_rec", s.qemu("compute", sort, "record", f"{w}/sort.rr"))
        cpu, _ = s.hlrr_replay(f"{w}/sort.hlrr")
        add("h_sort_replay", cpu)
        add("q_sort_replay", s.qemu("compute", sort, "replay", f"{w}/sort.rr"))
        add("h_chat", s.hlrr("chatty", chat))
        add("q_chat", s.qemu("chatty", chat))
        add("h_chat_rec", s.hlrr("chatty", chat, record=f"{w}/chat.hlrr"))
        add("q_chat_rec", s.qemu("chatty", chat, "record", f"{w}/chat.rr"))
        add("h_chat_replay", s.hlrr_replay(f"{w}/chat.hlrr")[0])
        add("q_chat_replay", s.qemu("chatty", chat, "replay", f"{w}/chat.rr"))
    s.hlrr("compute_release", "sort_hash 0 1", record=f"{w}/zero.hlrr")
    instructions = s.hlrr_replay(f"{w}/sort.hlrr")[1] - s.hlrr_replay(f"{w}/zero.hlrr")[1]
    sizes = {k: os.path.getsize(f"{w}/{k}") for k in ("sort.hlrr", "sort.rr", "chat.hlrr", "chat.rr")}
    return t, instructions, sizes


def rows(t, instructions, sizes, runs):
    med = {k: statistics.median(v) for k, v in t.items()}
    p90 = {k: sorted(v)[min(len(v) - 1, len(v) * 9 // 10)] for k, v in t.items()}
    out = []

    def row(name, unit, h, q, goal, hp=None):
        out.append({"name": name, "unit": unit, "median": h, "p90": h if hp is None else hp,
                    "runs": runs, "floor": "qemu", "floor_median": q, "ratio": h / q if q else 0,
                    "goal": goal})

    def mips(side):
        return instructions / max(med[f"{side}_sort"] - med[f"{side}_zero"], 1e-9) / 1e6

    row(f"vs qemu: guest speed sort_hash({SORT_N})", "MIPS", mips("h"), mips("q"),
        f">= 0.7x ({instructions} instructions, minus boot)")
    row(f"vs qemu: plain run sort_hash({SMALL_N})", "s", med["h_small"], med["q_small"], "",
        p90["h_small"])
    row(f"vs qemu: plain run sort_hash({SORT_N})", "s", med["h_sort"], med["q_sort"], "<= 1.5x",
        p90["h_sort"])
    row(f"vs qemu: record sort_hash({SORT_N})", "s", med["h_sort_rec"], med["q_sort_rec"],
        "<= 1.5x", p90["h_sort_rec"])
    row(f"vs qemu: record overhead sort_hash({SORT_N})", "x", med["h_sort_rec"] / med["h_sort"],
        med["q_sort_rec"] / med["q_sort"], "hlrr <= 1.05x")
    row(f"vs qemu: record overhead chatter({CHAT_N})", "x", med["h_chat_rec"] / med["h_chat"],
        med["q_chat_rec"] / med["q_chat"], "hlrr <= 1.10x")
    row(f"vs qemu: recording size sort_hash({SORT_N})", "KB", sizes["sort.hlrr"] / 1e3,
        sizes["sort.rr"] / 1e3, "hlrr <= 100 KB")
    calls = CHAT_N + CHAT_N // 1000 + 1
    row(f"vs qemu: recording bytes per host call, chatter", "B", sizes["chat.hlrr"] / calls,
        sizes["chat.rr"] / calls, "<= 1x")
    row(f"vs qemu: replay to the end sort_hash({SORT_N})", "s", med["h_sort_replay"],
        med["q_sort_replay"], "<= 1.5x", p90["h_sort_replay"])
    row(f"vs qemu: replay to the end chatter({CHAT_N})", "s", med["h_chat_replay"],
        med["q_chat_replay"], "<= 0.5x", p90["h_chat_replay"])
    return out


def main():
    args = sys.argv[1:]
    if len(args) < 2:
        sys.exit("usage: compare.py BUILD_DIR KERNEL_DIR [--json] [--qemu-runs N]")
    runs = int(args[args.index("--qemu-runs") + 1]) if "--qemu-runs" in args else 3
    with tempfile.TemporaryDirectory() as work:
        t, instructions, sizes = measure(Sides(args[0], args[1], work), runs)
    table = rows(t, instructions, sizes, runs)
    if "--json" in args:
        print(json.dumps(table, indent=2))
        return
    print(f"{'hlrr beside qemu (CPU s, medians)':<46} {'hlrr':>12} {'qemu':>12} {'ratio':>8}  goal")
    for r in table:
        print(f"{r['name']:<46} {r['median']:9.2f} {r['unit']:<2} {r['floor_median']:9.2f} "
              f"{r['unit']:<2} {r['ratio']:7.2f}x  {r['goal']}")


if __name__ == "__main__":
    main()
