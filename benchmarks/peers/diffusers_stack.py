"""diffusers on the shared checkpoint: ``StableAudioDiTModel``, ``AutoencoderOobleck``, ``StableAudioProjectionModel``
and ``StableAudioPipeline`` with ``CosineDPMSolverMultistepScheduler``, built and filled exactly as diffusers'
``scripts/convert_stable_audio.py`` does.

That script is not part of the diffusers wheel, and it parses its command line at import; so its key mapping
(the function ``convert_stable_audio_state_dict_to_diffusers``) is read from a copy of the script at run time and
only that function is executed (never copied into this project). The copy is found at ``$SA_BENCH_DIFFUSERS_CONVERT``
or ``<venv>/share/sa-bench/convert_stable_audio.py``.

Sampler: diffusers' Stable Audio scheduler is the *stochastic* DPM-Solver++(2M) (SDE, midpoint, Brownian-tree
noise, k-diffusion's ``sample_dpmpp_2m_sde``), not the deterministic 2M that ours and stable-audio-tools run, so a
full generation is compared for speed only; its DiT, CFG and VAE are compared for equality.
"""
from __future__ import annotations

import ast
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch

from benchmarks.peers.stack import PeerMissing, SamplerSpec, Stack

CONVERT_ENV = "SA_BENCH_DIFFUSERS_CONVERT"
CONVERT_FUNCTION = "convert_stable_audio_state_dict_to_diffusers"


def convert_script() -> Path:
    from benchmarks.peers import INSTALL

    path = Path(os.environ.get(CONVERT_ENV) or Path(sys.prefix) / "share" / "sa-bench" / "convert_stable_audio.py")
    if not path.is_file():
        raise PeerMissing(f"diffusers' scripts/convert_stable_audio.py not found at {path} (set ${CONVERT_ENV}); "
                          f"install: {INSTALL['diffusers']}")
    return path


def load_conversion(path: Path) -> Callable[..., tuple[dict, dict, dict]]:
    """diffusers' own ``convert_stable_audio_state_dict_to_diffusers`` from its script, without running the
    script's module-level code (argument parsing, hub downloads, saving)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    fn = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == CONVERT_FUNCTION]
    if not fn:
        raise PeerMissing(f"{path} has no function {CONVERT_FUNCTION} (not diffusers' convert_stable_audio.py?)")
    namespace: dict[str, Any] = {"torch": torch}
    exec(compile(ast.Module(body=fn, type_ignores=[]), str(path), "exec"), namespace)  # noqa: S102 - diffusers' code
    return namespace[CONVERT_FUNCTION]


def _import_diffusers() -> Any:
    from benchmarks.peers import INSTALL

    try:
        import diffusers
    except ImportError as exc:
        raise PeerMissing(f"diffusers is not installed ({exc}); install: {INSTALL['diffusers']}") from exc
    return diffusers


@dataclass
class DiffusersCond:
    """Assembled inputs (cross ``[B, S+2, 768]``, global ``[B, 1, 1536]``) and what the pipeline call needs."""

    cross: torch.Tensor
    global_states: torch.Tensor
    tokens: torch.Tensor
    mask: torch.Tensor
    start: float
    end: float


class DiffusersStack(Stack):
    name = "diffusers"
    sampler = SamplerSpec("CosineDPMSolverMultistepScheduler", False,
                          "SDE-DPM-Solver++(2M), midpoint, Brownian-tree noise: not the same as ours")

    @classmethod
    def check(cls) -> None:
        _import_diffusers()
        convert_script()

    def __init__(self, ckpt: Any, t5_dir: Any, device: str = "cpu"):
        super().__init__(ckpt, t5_dir, device)
        d = _import_diffusers()
        convert = load_conversion(convert_script())
        from safetensors.torch import load_file
        from transformers import AutoTokenizer, T5EncoderModel

        raw = self.raw_config
        cond_cfgs = {c["id"]: c["config"] for c in raw["model"]["conditioning"]["configs"]}
        dit_cfg = raw["model"]["diffusion"]["config"]
        ae_cfg = raw["model"]["pretransform"]["config"]
        head = dit_cfg["embed_dim"] // dit_cfg["num_heads"]
        dit_state, proj_state, ae_state = convert(load_file(str(self.ckpt / "model.safetensors")))
        with torch.device("meta"):  # the script's init_empty_weights + load_model_dict_into_meta, in plain torch
            proj = d.StableAudioProjectionModel(
                text_encoder_dim=768, conditioning_dim=raw["model"]["conditioning"]["cond_dim"],
                min_value=cond_cfgs["seconds_start"]["min_val"], max_value=cond_cfgs["seconds_start"]["max_val"])
            dit = d.StableAudioDiTModel(
                sample_size=raw["sample_size"] // ae_cfg["downsampling_ratio"], in_channels=dit_cfg["io_channels"],
                num_layers=dit_cfg["depth"], attention_head_dim=head,
                num_key_value_attention_heads=dit_cfg["cond_token_dim"] // head,
                num_attention_heads=dit_cfg["num_heads"], out_channels=dit_cfg["io_channels"],
                cross_attention_dim=dit_cfg["cond_token_dim"], time_proj_dim=256,
                global_states_input_dim=dit_cfg["global_cond_dim"],
                cross_attention_input_dim=dit_cfg["cond_token_dim"])
            vae = d.AutoencoderOobleck(
                encoder_hidden_size=ae_cfg["encoder"]["config"]["channels"],
                downsampling_ratios=ae_cfg["encoder"]["config"]["strides"],
                decoder_channels=ae_cfg["decoder"]["config"]["channels"],
                decoder_input_channels=ae_cfg["decoder"]["config"]["latent_dim"],
                audio_channels=ae_cfg["io_channels"], channel_multiples=ae_cfg["encoder"]["config"]["c_mults"],
                sampling_rate=raw["sample_rate"])
        self.ignored: list[str] = []  # keys the script's load_model_dict_into_meta skips (diffusers computes RoPE)
        for module, state in ((proj, proj_state), (dit, dit_state), (vae, ae_state)):
            own = module.state_dict()
            self.ignored += sorted(set(state) - set(own))
            missing = sorted(set(own) - set(state))
            if missing:
                raise ValueError(f"diffusers' {type(module).__name__} has weights the conversion did not fill: "
                                 f"{missing[:3]}")
            module.load_state_dict({k: v for k, v in state.items() if k in own}, strict=True, assign=True)
        scheduler = d.CosineDPMSolverMultistepScheduler(sigma_min=0.3, sigma_max=500, solver_order=2,
                                                        prediction_type="v_prediction", sigma_data=1.0,
                                                        sigma_schedule="exponential")
        self.pipe = d.StableAudioPipeline(
            transformer=dit.eval(), vae=vae.eval(), projection_model=proj.eval(), scheduler=scheduler,
            text_encoder=T5EncoderModel.from_pretrained(str(self.t5_dir), local_files_only=True).eval(),
            tokenizer=AutoTokenizer.from_pretrained(str(self.t5_dir), local_files_only=True)).to(device)
        self.pipe.set_progress_bar_config(disable=True)
        self.head_dim = head

    def release(self) -> None:
        self.pipe = None

    @torch.no_grad()
    def prepare(self, tokens: torch.Tensor, mask: torch.Tensor, seconds_start: torch.Tensor,
                seconds_total: torch.Tensor) -> DiffusersCond:
        """The pipeline's own ``encode_prompt`` / ``encode_duration`` (one start/end for the batch, as its API)."""
        if seconds_start.unique().numel() != 1 or seconds_total.unique().numel() != 1:
            raise ValueError("StableAudioPipeline takes one audio_start_in_s / audio_end_in_s for the whole batch")
        start, end = float(seconds_start[0]), float(seconds_total[0])
        prompt = self.pipe.encode_prompt(None, self.device, False, prompt_embeds=tokens, attention_mask=mask.long())
        s, e = self.pipe.encode_duration(start, end, self.device, False, len(tokens))
        return DiffusersCond(torch.cat([prompt, s, e], dim=1), torch.cat([s, e], dim=2), tokens, mask, start, end)

    @torch.no_grad()
    def velocity(self, x: torch.Tensor, t: torch.Tensor, cond: DiffusersCond, cfg_scale: float = 1.0
                 ) -> torch.Tensor:
        """The transformer call and guidance of ``StableAudioPipeline.__call__``'s loop ([uncond; cond] batch with
        zeroed cross-attention input, ``u + g (c - u)``)."""
        from diffusers.models.embeddings import get_1d_rotary_pos_embed

        rotary = get_1d_rotary_pos_embed(self.head_dim // 2, x.shape[2] + cond.global_states.shape[1],
                                         use_real=True, repeat_interleave_real=False)
        cross, glob = cond.cross, cond.global_states
        if cfg_scale != 1.0:
            x, t = torch.cat([x, x]), torch.cat([t, t])
            cross, glob = torch.cat([torch.zeros_like(cross), cross]), torch.cat([glob, glob])
        v = self.pipe.transformer(x, t, encoder_hidden_states=cross, global_hidden_states=glob,
                                  rotary_embedding=rotary, return_dict=False)[0].float()
        if cfg_scale != 1.0:
            u, c = v.chunk(2)
            v = u + cfg_scale * (c - u)
        return v

    @torch.no_grad()
    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        return self.pipe.vae.decode(latents).sample.float()

    def _call(self, cond: DiffusersCond, noise: torch.Tensor, steps: int, cfg_scale: float, output: str) -> Any:
        if noise.shape[2] != self.pipe.transformer.config.sample_size:
            raise ValueError(f"the pipeline's window is {self.pipe.transformer.config.sample_size} latents "
                             f"(transformer.config.sample_size), got noise of {noise.shape[2]}")
        return self.pipe(prompt_embeds=cond.tokens, attention_mask=cond.mask.long(), audio_start_in_s=cond.start,
                         audio_end_in_s=cond.end, num_inference_steps=steps, guidance_scale=cfg_scale,
                         latents=noise.clone(), output_type=output, return_dict=False,
                         generator=torch.Generator(self.device).manual_seed(0))[0]

    @torch.no_grad()
    def sample(self, cond: DiffusersCond, noise: torch.Tensor, steps: int, cfg_scale: float, sigma_min: float = 0.3,
               sigma_max: float = 500.0) -> torch.Tensor:
        """The pipeline up to latents (``output_type="latent"``); ``sigma_min``/``sigma_max`` are the scheduler's
        (0.3, 500, as the conversion script sets them)."""
        return self._call(cond, noise, steps, cfg_scale, "latent").float()

    @torch.no_grad()
    def generate(self, cond: DiffusersCond, noise: torch.Tensor, steps: int, cfg_scale: float) -> torch.Tensor:
        """The pipeline end to end (sampling, VAE decode, trim to ``audio_end_in_s``)."""
        return self._call(cond, noise, steps, cfg_scale, "pt").float()
