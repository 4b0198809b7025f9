#!/usr/bin/python3
"""Two reference implementations of the PaliGemma mask VQ-VAE decoder, independent of tools/convert_vae_oid.py.

- `decode_numpy(params, codes)`: plain NumPy, written from the layer definitions (PyTorch semantics:
  Conv out[o,y,x] = b[o] + sum W[o,c,ky,kx] in[c, y+ky-p, x+kx-p]; ConvTranspose scatters
  in[c,i,j] * W[c,o,ky,kx] to out[o, i*s-p+ky, j*s-p+kx]).
- `decode_torch(npz_path, codes)`: a torch.nn module whose parameter names ARE the checkpoint keys, loaded with
  load_state_dict(strict=True), so a key or shape the converter reads differently from PyTorch fails loudly.

Both return float32 [B,64,64] logits. Used by tools/gen_vae_fixture.py; runs with Debian's /usr/bin/python3.
"""
import numpy as np


def _conv(x, w, b, pad):
    """x [B,C,H,W], w [O,C,k,k] -> [B,O,H,W] (stride 1, same padding)."""
    k = w.shape[2]
    bsz, _, h, wd = x.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    out = np.zeros((bsz, w.shape[0], h + 2 * pad - k + 1, wd + 2 * pad - k + 1), dtype=np.float64)
    for ky in range(k):
        for kx in range(k):
            patch = xp[:, :, ky:ky + out.shape[2], kx:kx + out.shape[3]]
            out += np.einsum("bchw,oc->bohw", patch, w[:, :, ky, kx])
    return out + b[None, :, None, None]


def _conv_transpose(x, w, b, stride=2, pad=1):
    """x [B,C,H,W], w [C,O,k,k] -> [B,O,(H-1)s-2p+k,...] by scattering every input pixel."""
    bsz, _, h, wd = x.shape
    k = w.shape[2]
    full = np.zeros((bsz, w.shape[1], (h - 1) * stride + k, (wd - 1) * stride + k), dtype=np.float64)
    for ky in range(k):
        for kx in range(k):
            contrib = np.einsum("bchw,co->bohw", x, w[:, :, ky, kx])
            full[:, :, ky:ky + (h - 1) * stride + 1:stride, kx:kx + (wd - 1) * stride + 1:stride] += contrib
    out_h = (h - 1) * stride - 2 * pad + k
    out_w = (wd - 1) * stride - 2 * pad + k
    return full[:, :, pad:pad + out_h, pad:pad + out_w] + b[None, :, None, None]


def _relu(x):
    return np.maximum(x, 0)


def decode_numpy(params, codes):
    p = {k: np.asarray(v, dtype=np.float64) for k, v in params.items()}
    codes = np.asarray(codes, dtype=np.int64)
    emb = p["_vq_vae._embedding"][codes]                      # [B,16,D]
    x = emb.reshape(codes.shape[0], 4, 4, -1).transpose(0, 3, 1, 2)  # token i -> (i // 4, i % 4)
    x = _relu(_conv(x, p["decoder.0.weight"], p["decoder.0.bias"], 0))
    for blk in ("decoder.2.net", "decoder.3.net"):
        h = _relu(_conv(x, p[blk + ".0.weight"], p[blk + ".0.bias"], 1))
        h = _relu(_conv(h, p[blk + ".2.weight"], p[blk + ".2.bias"], 1))
        x = x + _conv(h, p[blk + ".4.weight"], p[blk + ".4.bias"], 0)
    for up in ("decoder.4", "decoder.6", "decoder.8", "decoder.10"):
        x = _relu(_conv_transpose(x, p[up + ".weight"], p[up + ".bias"]))
    x = _conv(x, p["decoder.12.weight"], p["decoder.12.bias"], 0)
    return x[:, 0].astype(np.float32)


def decode_torch(npz_path, codes):
    import torch
    from torch import nn

    with np.load(npz_path) as npz:
        state = {k: torch.from_numpy(np.asarray(npz[k], dtype=np.float32)) for k in npz.files}
    k_codes, d = state["_vq_vae._embedding"].shape
    c = state["decoder.0.weight"].shape[0]
    widths = [state[f"decoder.{i}.weight"].shape[1] for i in (4, 6, 8, 10)]

    class ResBlock(nn.Module):
        def __init__(self, ch):
            super().__init__()
            self.net = nn.Sequential(nn.Conv2d(ch, ch, 3, padding=1), nn.ReLU(), nn.Conv2d(ch, ch, 3, padding=1), nn.ReLU(), nn.Conv2d(ch, ch, 1))

        def forward(self, x):
            return x + self.net(x)

    class VQ(nn.Module):
        def __init__(self):
            super().__init__()
            self._embedding = nn.Parameter(torch.zeros(k_codes, d))

    class Vae(nn.Module):
        def __init__(self):
            super().__init__()
            self._vq_vae = VQ()
            layers = [nn.Conv2d(d, c, 1), nn.ReLU(), ResBlock(c), ResBlock(c)]
            cin = c
            for w in widths:
                layers += [nn.ConvTranspose2d(cin, w, 4, stride=2, padding=1), nn.ReLU()]
                cin = w
            layers.append(nn.Conv2d(cin, 1, 1))
            self.decoder = nn.Sequential(*layers)

        def forward(self, idx):
            q = self._vq_vae._embedding[idx].reshape(idx.shape[0], 4, 4, d).permute(0, 3, 1, 2)
            return self.decoder(q)[:, 0]

    model = Vae()
    model.load_state_dict(state, strict=True)
    with torch.no_grad():
        return model(torch.from_numpy(np.asarray(codes, dtype=np.int64))).numpy().astype(np.float32)
