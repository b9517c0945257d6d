"""A GPU serving profile from published figures, for the simulated KV benchmark (`aios bench kv --simulate`).

The local engine runs on CPUs, where copying a cache to host memory costs milliseconds and a re-prefill
costs seconds. On a GPU the balance differs: HBM is large but shared by many agents, a re-prefill is fast,
and a copy crosses PCIe. This module holds the figures of one such machine, each with its source, and the
few formulas of the engine model the simulator uses.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from aios.kernel.kv_types import Calibration

GB = 1e9


class GpuProfile(BaseModel):
    """One model on one GPU: sizes and rates the simulated engine is built from."""

    model_config = ConfigDict(frozen=True)

    name: str
    """What the profile stands for, as the report prints it."""
    kv_bytes_per_token: int = 32 * 8 * 128 * 2 * 2
    """Llama-3-8B (its published config.json): 32 layers x 8 KV heads (GQA) x 128 head dim x 2 (K and V)
    x 2 bytes (fp16/bf16) = 131,072 bytes, 128 KiB a token."""
    num_params: float = 8.03e9
    """Llama-3-8B's parameters (Meta's model card); at 2 bytes each its weights take 16.06 GB of HBM."""
    hbm_bytes: float = 80 * GB
    """H100 SXM5 (NVIDIA's datasheet): 80 GB of HBM3."""
    hbm_bytes_per_s: float = 3.35e12
    """H100 SXM5 (NVIDIA's datasheet): 3.35 TB/s of HBM3 bandwidth."""
    bandwidth_efficiency: float = 0.8
    """Share of peak HBM bandwidth a decode step achieves (assumed: memory-bound kernels reach 70-90%)."""
    peak_flops: float = 989e12
    """H100 SXM5 (NVIDIA's datasheet): 989 TFLOPS dense BF16."""
    flops_efficiency: float = 0.5
    """Model FLOPs utilisation of prefill (assumed: dense prefill of an 8B model reaches about half of peak),
    which with 2 x 8.03 B FLOPs a token (Kaplan et al. 2020) gives about 31,000 prefill tokens/s."""
    pcie_bytes_per_s: float = 50 * GB
    """Host link, each direction: PCIe 5.0 x16 is 64 GB/s raw (the H100 SXM5 host interface), about 50 GB/s
    effective in pinned-memory copies; PCIe 4.0 x16 gives about 25 GB/s."""
    host_kv_bytes: float = 256 * GB
    """Host memory for offloaded caches: a DGX H100 has 2 TB of system memory for its 8 GPUs (NVIDIA's
    datasheet), 256 GB each; generous to offloading on purpose (vLLM's own swap space defaults to 4 GiB)."""
    max_num_seqs: int = 1024
    """Sequences in one batch: vLLM's default for its OpenAI server on GPUs of 70 GiB or more."""
    max_num_batched_tokens: int = 8192
    """Tokens in one step (chunked prefill): vLLM's default for its OpenAI server on such GPUs."""

    @property
    def weight_bytes(self) -> float:
        return 2 * self.num_params

    @property
    def kv_capacity_tokens(self) -> int:
        """Tokens of KV that fit in HBM beside the weights (80 GB - 16 GB = 64 GB: about 488,000)."""
        return int((self.hbm_bytes - self.weight_bytes) // self.kv_bytes_per_token)

    @property
    def prefill_tokens_per_s(self) -> float:
        """Compute-bound prefill rate: 2 FLOPs per parameter per token at the assumed utilisation."""
        return self.peak_flops * self.flops_efficiency / (2 * self.num_params)

    @property
    def attend_s_per_token(self) -> float:
        """Step time each token of attended context adds: its K and V are read from HBM once a step."""
        return self.kv_bytes_per_token / (self.hbm_bytes_per_s * self.bandwidth_efficiency)

    def step_s(self, *, batch_tokens: int, context_tokens: int) -> float:
        """One engine step: the weights and the attended KV are read once (memory-bound), and every token
        in the batch costs its FLOPs (compute-bound); the two are added, a plain roofline sum."""
        weights_s = self.weight_bytes / (self.hbm_bytes_per_s * self.bandwidth_efficiency)
        return weights_s + context_tokens * self.attend_s_per_token + batch_tokens / self.prefill_tokens_per_s

    def copy_s(self, tokens: int) -> float:
        """Seconds to move `tokens` of KV across the host link, one way."""
        return tokens * self.kv_bytes_per_token / self.pcie_bytes_per_s

    def calibration(self) -> Calibration:
        """The costs a KV policy weighs, as a GPU engine would measure them."""
        return Calibration(
            prefill_tokens_per_s=self.prefill_tokens_per_s,
            swap_out_bytes_per_s=self.pcie_bytes_per_s,
            swap_in_bytes_per_s=self.pcie_bytes_per_s,
            kv_bytes_per_token=self.kv_bytes_per_token,
        )


GPU_PROFILES: dict[str, GpuProfile] = {
    "gpu": GpuProfile(name="Llama-3-8B fp16 on an H100 SXM5, PCIe 5.0 host link"),
    "gpu_pcie4": GpuProfile(name="Llama-3-8B fp16 on an H100, PCIe 4.0 host link", pcie_bytes_per_s=25 * GB),
}
"""Profiles by the name `aios bench kv --simulate` takes."""
