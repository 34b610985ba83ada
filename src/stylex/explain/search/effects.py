"""The effect engine: how much each StyleSpace edit moves the classifier's logits.

effect[i, d, k, c] = logits_c(C(G(s_i with coordinate k moved toward S_min (d=0) or S_max (d=1))))
                     - logits_c(C(G(s_i)))

Every public AttFind runs this as 2 * S full G + C forwards per image at batch 1. Here:
- many edits go through one forward (edits of several images and coordinates are batched);
- an edit of a layer in synthesis block b leaves blocks 0..b-1 unchanged, so their output is
  computed once per image and synthesis restarts at block b;
- optionally a first-order screen ranks all coordinates with one backward pass per image and
  class, and only the top candidates are evaluated exactly (the rest are left at 0).
`reference_effects` is the plain loop, kept to test that the fast paths give the same tensor.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import torch
from tqdm import tqdm

from stylex.explain.vocabulary.attributes import StyleStats
from stylex.models import Generator, Styles


def _edit_batches(
    block_coords: list[torch.Tensor], num_images: int, edits_per_batch: int
) -> Iterator[tuple[int, torch.Tensor, torch.Tensor, torch.Tensor]]:
    """Yield (block, image ids, directions, coordinates) for batches of edits within one block."""
    for block, coords in enumerate(block_coords):
        if coords.numel() == 0:
            continue
        # All (image, direction, coordinate) triples of this block, image-major.
        img = torch.arange(num_images).repeat_interleave(2 * coords.numel())
        dirs = torch.arange(2).repeat_interleave(coords.numel()).repeat(num_images)
        ks = coords.repeat(2 * num_images)
        for start in range(0, img.numel(), edits_per_batch):
            sl = slice(start, start + edits_per_batch)
            yield block, img[sl], dirs[sl], ks[sl]


class EffectEngine:
    """Batched, cached computation of the effect tensor for a generator and a classifier."""

    def __init__(
        self,
        G: Generator,
        C: torch.nn.Module,  # x in [-1, 1] -> logits [N, num_classes]
        shift: float = 1.0,  # 1 moves a coordinate all the way to its extreme
        edits_per_batch: int = 128,  # edits per G + C forward; bounds memory
        noise_mode: str = "const",
    ) -> None:
        self.G, self.C = G, C
        self.shift = shift
        self.edits_per_batch = edits_per_batch
        self.noise_mode = noise_mode
        layout = G.layout
        # Coordinates of each synthesis block, in global StyleSpace indices.
        block_of_layer = {}
        for b, block in enumerate(G.synthesis_blocks):
            for name, _ in block.conv_layers():
                block_of_layer[name] = b
        per_block: list[list[int]] = [[] for _ in G.synthesis_blocks]
        for lay in layout.conv_layers:
            per_block[block_of_layer[lay.name]].extend(range(lay.offset, lay.offset + lay.channels))
        self.block_coords = [torch.tensor(c, dtype=torch.long) for c in per_block]

    def logits(self, styles: Styles) -> torch.Tensor:
        return self.C(self.G.synthesize(styles, self.noise_mode))

    @torch.no_grad()
    def effects(
        self,
        styles: Styles,  # styles of N images
        stats: StyleStats,
        coords: torch.Tensor | None = None,  # [N, M] per-image candidate coordinates (screen)
        progress: bool = False,
    ) -> torch.Tensor:
        """Effect tensor [N, 2, S, C] (float32). With `coords`, only those are computed."""
        conv, rgb = styles.conv, styles.rgb
        n, num_coords = conv.shape
        targets = stats.targets().to(conv.device, conv.dtype)  # [2, S]
        base = self.logits(styles).float()  # [N, C]
        out = torch.zeros(n, 2, num_coords, base.shape[1])
        states = self.G.synthesis_states(styles, self.noise_mode)
        if coords is None:
            batches = list(_edit_batches(self.block_coords, n, self.edits_per_batch))
        else:
            batches = list(self._candidate_batches(coords))
        for block, img, dirs, ks in tqdm(
            batches, desc="effects", disable=not progress, leave=False
        ):
            img_d = img.to(conv.device)
            edited = conv[img_d].clone()
            rows = torch.arange(img.numel(), device=conv.device)
            ks_d, dirs_d = ks.to(conv.device), dirs.to(conv.device)
            edited[rows, ks_d] += self.shift * (targets[dirs_d, ks_d] - edited[rows, ks_d])
            state = None
            if block > 0:
                x_state, img_state = states[block]
                state = (x_state[img_d], img_state[img_d])
            x = self.G.synthesize(Styles(edited, rgb[img_d]), self.noise_mode, block, state)
            delta = self.C(x).float() - base[img_d]
            out[img, dirs, ks] = delta.cpu()
        return out

    def _candidate_batches(self, coords: torch.Tensor):
        """Batches of edits restricted to per-image candidates, grouped by synthesis block."""
        n = coords.shape[0]
        block_of = torch.empty(self.G.layout.num_conv, dtype=torch.long)
        for b, c in enumerate(self.block_coords):
            block_of[c] = b
        img = torch.arange(n).repeat_interleave(coords.shape[1])
        ks = coords.reshape(-1).cpu()
        for block in range(len(self.block_coords)):
            sel = block_of[ks] == block
            if not sel.any():
                continue
            bi, bk = img[sel].repeat_interleave(2), ks[sel].repeat_interleave(2)
            bd = torch.arange(2).repeat(int(sel.sum()))
            for start in range(0, bi.numel(), self.edits_per_batch):
                sl = slice(start, start + self.edits_per_batch)
                yield block, bi[sl], bd[sl], bk[sl]

    def screen(self, styles: Styles, stats: StyleStats, top: int) -> torch.Tensor:
        """First-order ranking: per image, the `top` coordinates with the largest predicted
        |effect| over both directions and all classes. Returns [N, top] coordinate indices.

        Predicted effect of (d, k) on class c: dlogit_c/ds_k * shift * (target_d[k] - s_k),
        one backward pass per class for the whole batch (the images are independent).
        """
        conv = styles.conv.detach().clone().requires_grad_(True)
        targets = stats.targets().to(conv.device, conv.dtype)
        with torch.enable_grad():
            logits = self.logits(Styles(conv, styles.rgb.detach()))
            grads = []
            for c in range(logits.shape[1]):
                (g,) = torch.autograd.grad(logits[:, c].sum(), conv, retain_graph=True)
                grads.append(g)
        predicted = torch.stack(
            [first_order_effects(g, conv.detach(), targets, self.shift) for g in grads], dim=-1
        )  # [N, 2, S, C]
        predicted = predicted.abs().amax(dim=(1, 3))  # [N, S]
        top = min(top, predicted.shape[1])
        return predicted.topk(top, dim=1).indices


def log_prob_gradient(
    logits_of: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],  # (conv, rgb) -> logits
    conv: torch.Tensor,  # [N, S]
    rgb: torch.Tensor,  # [N, T]
    targets: torch.Tensor,  # [N] class index per image
) -> torch.Tensor:
    """d log P(target_i) / d conv_i for each image, one backward pass for the batch (the
    images are independent). Returns [N, S] on conv's device."""
    conv = conv.detach().float().clone().requires_grad_(True)
    with torch.enable_grad():
        log_p = torch.log_softmax(logits_of(conv, rgb.detach().float()).float(), dim=1)
        picked = log_p.gather(1, targets.to(log_p.device).long()[:, None]).sum()
        (grad,) = torch.autograd.grad(picked, conv)
    return grad


def first_order_effects(
    grad: torch.Tensor,  # [N, S] d f / d s of some scalar f of each image
    conv: torch.Tensor,  # [N, S] the styles the gradient was taken at
    targets: torch.Tensor,  # [2, S] S_min, S_max (StyleStats.targets)
    shift: float,
) -> torch.Tensor:
    """The first-order prediction of how much f moves when coordinate k goes toward its
    extreme d: grad_k * shift * (target_d[k] - s_k). Returns [N, 2, S]."""
    delta = shift * (targets[None].to(conv.dtype) - conv[:, None])  # [N, 2, S]
    return grad[:, None] * delta


@torch.no_grad()
def reference_effects(
    G: Generator, C: torch.nn.Module, styles: Styles, stats: StyleStats, shift: float = 1.0
) -> torch.Tensor:
    """The plain loop of the public implementations: one edit per full G + C forward, batch 1."""
    conv, rgb = styles.conv, styles.rgb
    n, num_coords = conv.shape
    targets = stats.targets().to(conv.device, conv.dtype)
    out = None
    for i in range(n):
        s_i = Styles(conv[i : i + 1], rgb[i : i + 1])
        base = C(G.synthesize(s_i)).float()
        if out is None:
            out = torch.zeros(n, 2, num_coords, base.shape[1])
        for d in range(2):
            for k in range(num_coords):
                edited = s_i.conv.clone()
                edited[0, k] += shift * (targets[d, k] - edited[0, k])
                out[i, d, k] = (C(G.synthesize(Styles(edited, s_i.rgb))).float() - base)[0]
    assert out is not None, "no styles"
    return out
