"""torchrun support: which rank this process is, the process group, and the few collectives the
project needs. Without torchrun (no WORLD_SIZE), everything is a single process and every call
here is a no-op, so single-process code paths stay exactly as they were."""

from __future__ import annotations

from typing import Any

import torch
import torch.distributed as dist

from .world import World, world


def init(device: torch.device) -> World:
    """Join the process group when launched by torchrun: NCCL on CUDA, gloo on CPU."""
    w = world()
    if w.distributed and not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return w


def shutdown() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def active() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def barrier() -> None:
    if active():
        dist.barrier()


def broadcast(obj: Any) -> Any:
    """Rank 0's obj on every rank (any picklable object)."""
    if not active():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def all_sum(value: float) -> float:
    """The sum of a number over all ranks."""
    if not active():
        return value
    t = torch.tensor([value], dtype=torch.float64)
    if dist.get_backend() == "nccl":
        t = t.cuda()
    dist.all_reduce(t)
    return float(t.item())


def all_sum_tensor(t: torch.Tensor) -> torch.Tensor:
    """The element-wise sum of a (CPU) tensor over all ranks."""
    if not active():
        return t
    out = t.cuda() if dist.get_backend() == "nccl" else t.clone()
    dist.all_reduce(out)
    return out.to(t.device)


def sum_gradients(module: torch.nn.Module) -> None:
    """Replace every gradient by its sum over the ranks (one flat all-reduce)."""
    if not active():
        return
    grads = [p.grad for p in module.parameters() if p.grad is not None]
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    at = 0
    for g in grads:
        g.copy_(flat[at:at + g.numel()].view_as(g))
        at += g.numel()
