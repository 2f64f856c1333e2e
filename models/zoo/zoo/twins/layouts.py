"""The layout twins: what each real layout looks like on disk, and how the tiny twin reproduces it.

Every fact used here is listed with its source in models/twins/FACTS.md (F-numbers below).
Expected I/O dims: int = fixed, str = exact symbolic name, None = dynamic with a name the real
exporter generates itself (torch names such dims like "Convout_sample_dim_0"), so tests must not
rely on it.
"""
import json
import zlib
from pathlib import Path

import torch

from . import nets, tok
from .export import export

# tiny sizes shared by the twins (real sizes in comments)
CLIP_DIM = 16          # CLIP-L 768, OpenCLIP-bigG 1280
CLIP_LAYERS = 2        # 12 / 32
T5_DIM = 32            # T5-XXL 4096
UNET_CH = (8, 16)      # SD 1.5 (320, 640, 1280, 1280); SDXL (320, 640, 1280)
VAE_CH = (4, 4, 8, 8)  # (128, 256, 512, 512): 4 blocks -> scale factor 8 kept
SAFETY_IMAGE = 32      # CLIP ViT-L/14 224


def seed(*parts):
    torch.manual_seed(zlib.crc32("/".join(parts).encode()))


def io(name, dtype, shape):
    return {"name": name, "dtype": dtype, "shape": list(shape)}


def write_json(path: Path, obj):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=2) + "\n")


class Builder:
    """Collects the graphs of one twin: exports them and records expected I/O and a smoke-run plan."""

    def __init__(self, root: Path, name: str):
        self.root, self.name = root, name
        self.graphs = []

    def graph(self, rel, module, args, expected_in, expected_out, dynamic_axes, run_inputs, expect_run,
              external=None, fp16_weights=False, notes=None, wrap_bf16=False, static_output_dims=None):
        export(module, args, self.root / rel, [e["name"] for e in expected_in],
               [e["name"] for e in expected_out], dynamic_axes, external=external, fp16_weights=fp16_weights,
               static_output_dims=static_output_dims)
        self.graphs.append({
            "path": rel,
            "external_data": external["location"] if external else None,
            "inputs": expected_in,
            "outputs": expected_out,
            "smoke": {"inputs": run_inputs, "expect": expect_run, "wrap_bf16": wrap_bf16},
            **({"notes": notes} if notes else {}),
        })


# --------------------------------------------------------------------------- shared config writers

def clip_text_config(vocab, arch="CLIPTextModel", proj=CLIP_DIM, act="quick_gelu", extra=None):
    cfg = {"architectures": [arch], "attention_dropout": 0.0, "bos_token_id": 0, "dropout": 0.0,
           "eos_token_id": 2, "hidden_act": act, "hidden_size": CLIP_DIM, "initializer_factor": 1.0,
           "initializer_range": 0.02, "intermediate_size": 4 * CLIP_DIM, "layer_norm_eps": 1e-05,
           "max_position_embeddings": 77, "model_type": "clip_text_model", "num_attention_heads": 2,
           "num_hidden_layers": CLIP_LAYERS, "pad_token_id": 1, "projection_dim": proj,
           "torch_dtype": "float32", "transformers_version": "4.30.2", "vocab_size": vocab}
    cfg.update(extra or {})
    return cfg


def t5_config(vocab):
    return {"architectures": ["T5EncoderModel"], "classifier_dropout": 0.0, "d_ff": 2 * T5_DIM, "d_kv": 16,
            "d_model": T5_DIM, "decoder_start_token_id": 0, "dense_act_fn": "gelu_new", "dropout_rate": 0.1,
            "eos_token_id": 1, "feed_forward_proj": "gated-gelu", "initializer_factor": 1.0,
            "is_encoder_decoder": True, "is_gated_act": True, "layer_norm_epsilon": 1e-06, "model_type": "t5",
            "num_decoder_layers": 2, "num_heads": 2, "num_layers": 2, "output_past": True, "pad_token_id": 0,
            "relative_attention_max_distance": 128, "relative_attention_num_buckets": 32,
            "tie_word_embeddings": False, "torch_dtype": "float32", "transformers_version": "4.46.2",
            "use_cache": True, "vocab_size": vocab}


def vae_config(latent, scaling, shift=None, flux=False, version="0.21.4"):
    cfg = {"_class_name": "AutoencoderKL", "_diffusers_version": version, "act_fn": "silu",
           "block_out_channels": list(VAE_CH), "down_block_types": ["DownEncoderBlock2D"] * 4,
           "force_upcast": True, "in_channels": 3, "latent_channels": latent, "layers_per_block": 1,
           "norm_num_groups": 2, "out_channels": 3, "sample_size": 64, "scaling_factor": scaling,
           "up_block_types": ["UpDecoderBlock2D"] * 4}
    if flux:
        cfg.update({"latents_mean": None, "latents_std": None, "mid_block_add_attention": True,
                    "shift_factor": shift, "use_post_quant_conv": False, "use_quant_conv": False})
    return cfg


def unet_config(cross_dim, sdxl=False, extra=None):
    cfg = {"_class_name": "UNet2DConditionModel", "_diffusers_version": "0.19.0.dev0" if sdxl else "0.6.0",
           "act_fn": "silu", "attention_head_dim": 2, "block_out_channels": list(UNET_CH),
           "center_input_sample": False, "cross_attention_dim": cross_dim,
           "down_block_types": ["DownBlock2D", "CrossAttnDownBlock2D"] if sdxl else
           ["CrossAttnDownBlock2D", "DownBlock2D"],
           "downsample_padding": 1, "flip_sin_to_cos": True, "freq_shift": 0, "in_channels": 4,
           "layers_per_block": 1, "mid_block_scale_factor": 1, "norm_eps": 1e-05, "norm_num_groups": 4,
           "out_channels": 4, "sample_size": 8,
           "up_block_types": ["CrossAttnUpBlock2D", "UpBlock2D"] if sdxl else ["UpBlock2D", "CrossAttnUpBlock2D"]}
    if sdxl:
        cfg.update({"addition_embed_type": "text_time", "addition_time_embed_dim": 8,
                    "projection_class_embeddings_input_dim": CLIP_DIM + 6 * 8,
                    "transformer_layers_per_block": 1, "use_linear_projection": True})
    cfg.update(extra or {})
    return cfg


PNDM = {"_class_name": "PNDMScheduler", "_diffusers_version": "0.6.0", "beta_end": 0.012,
        "beta_schedule": "scaled_linear", "beta_start": 0.00085, "clip_sample": False, "num_train_timesteps": 1000,
        "set_alpha_to_one": False, "skip_prk_steps": True, "steps_offset": 1, "trained_betas": None}
EULER_SDXL = {"_class_name": "EulerDiscreteScheduler", "_diffusers_version": "0.19.0.dev0", "beta_end": 0.012,
              "beta_schedule": "scaled_linear", "beta_start": 0.00085, "clip_sample": False,
              "interpolation_type": "linear", "num_train_timesteps": 1000, "prediction_type": "epsilon",
              "sample_max_value": 1.0, "set_alpha_to_one": False, "skip_prk_steps": True, "steps_offset": 1,
              "timestep_spacing": "leading", "trained_betas": None, "use_karras_sigmas": False}
FLOW_FLUX = {"_class_name": "FlowMatchEulerDiscreteScheduler", "_diffusers_version": "0.30.0.dev0",
             "base_image_seq_len": 256, "base_shift": 0.5, "max_image_seq_len": 4096, "max_shift": 1.15,
             "num_train_timesteps": 1000, "shift": 3.0, "use_dynamic_shifting": True}


def clip_image_processor(size=SAFETY_IMAGE):
    return {"crop_size": {"height": size, "width": size}, "do_center_crop": True, "do_convert_rgb": True,
            "do_normalize": True, "do_rescale": True, "do_resize": True, "feature_extractor_type": "CLIPFeatureExtractor",
            "image_mean": [0.48145466, 0.4578275, 0.40821073], "image_processor_type": "CLIPImageProcessor",
            "image_std": [0.26862954, 0.26130258, 0.27577711], "resample": 3, "rescale_factor": 0.00392156862745098,
            "size": {"shortest_edge": size}}


def f32(name, shape, low=-1.0, high=1.0):
    return {"name": name, "dtype": "float32", "shape": shape, "low": low, "high": high}


def typed(dtype, name, shape, low=-1.0, high=1.0):
    return {"name": name, "dtype": dtype, "shape": shape, "low": low, "high": high}


# =========================================================================== SD 1.5, diffusers script

def build_sd15_diffusers(root: Path):
    """diffusers scripts/convert_stable_diffusion_checkpoint_to_onnx.py (version >= 2022-11-08, #1173)."""
    b = Builder(root, "sd15-diffusers")
    vocab = tok.write_clip_tokenizer(root / "tokenizer")
    write_json(root / "scheduler" / "scheduler_config.json", PNDM)
    write_json(root / "feature_extractor" / "preprocessor_config.json", clip_image_processor())
    write_json(root / "model_index.json", {
        "_class_name": "OnnxStableDiffusionPipeline", "_diffusers_version": "0.14.0",
        "feature_extractor": ["transformers", "CLIPImageProcessor"], "requires_safety_checker": True,
        "safety_checker": ["diffusers", "OnnxRuntimeModel"], "scheduler": ["diffusers", "PNDMScheduler"],
        "text_encoder": ["diffusers", "OnnxRuntimeModel"], "tokenizer": ["transformers", "CLIPTokenizer"],
        "unet": ["diffusers", "OnnxRuntimeModel"], "vae_decoder": ["diffusers", "OnnxRuntimeModel"],
        "vae_encoder": ["diffusers", "OnnxRuntimeModel"]})

    seed(b.name, "te")
    te = nets.CLIPTextModel(vocab, CLIP_DIM, 2, CLIP_LAYERS)
    b.graph("text_encoder/model.onnx", te, (torch.randint(0, vocab, (1, 77), dtype=torch.int32),),
            [io("input_ids", "int32", ["batch", "sequence"])],
            [io("last_hidden_state", "float32", [None, None, CLIP_DIM]), io("pooler_output", "float32", [None, CLIP_DIM])],
            {"input_ids": {0: "batch", 1: "sequence"}},
            [typed("int32", "input_ids", [2, 77], 0, vocab)],
            {"last_hidden_state": {"dims": [2, 77, CLIP_DIM], "dtype": "float32"}})

    seed(b.name, "unet")
    unet = nets.UNet2DConditionModel(channels=UNET_CH, cross_dim=CLIP_DIM)
    b.graph("unet/model.onnx", unet, (torch.randn(2, 4, 8, 8), torch.randn(2), torch.randn(2, 77, CLIP_DIM)),
            [io("sample", "float32", ["batch", "channels", "height", "width"]), io("timestep", "float32", ["batch"]),
             io("encoder_hidden_states", "float32", ["batch", "sequence", CLIP_DIM])],
            [io("out_sample", "float32", [None, 4, None, None])],
            {"sample": {0: "batch", 1: "channels", 2: "height", 3: "width"}, "timestep": {0: "batch"},
             "encoder_hidden_states": {0: "batch", 1: "sequence"}},
            [f32("sample", [2, 4, 8, 8]), f32("timestep", [2], 0, 999), f32("encoder_hidden_states", [2, 77, CLIP_DIM])],
            {"out_sample": {"dims": [2, 4, 8, 8], "dtype": "float32"}},
            # the script: onnx.save_model(..., save_as_external_data=True, all_tensors_to_one_file=True,
            # location="weights.pb", convert_attribute=False) -> onnx's default size_threshold 1024
            external={"location": "weights.pb", "size_threshold": 1024, "convert_attribute": False})

    seed(b.name, "vae")
    vae = nets.AutoencoderKL(4, VAE_CH)
    b.graph("vae_encoder/model.onnx", nets.set_forward(vae, vae.sample_latent), (torch.randn(1, 3, 64, 64),),
            [io("sample", "float32", ["batch", "channels", "height", "width"])],
            [io("latent_sample", "float32", [None, None, None, None])],
            {"sample": {0: "batch", 1: "channels", 2: "height", 3: "width"}},
            [f32("sample", [1, 3, 64, 64])], {"latent_sample": {"dims": [1, 4, 8, 8], "dtype": "float32"}},
            notes="latent_dist.sample(): the graph draws its own noise (RandomNormalLike)")
    b.graph("vae_decoder/model.onnx", nets.set_forward(vae, vae.decode), (torch.randn(1, 4, 8, 8),),
            [io("latent_sample", "float32", ["batch", "channels", "height", "width"])],
            [io("sample", "float32", [None, 3, None, None])],
            {"latent_sample": {0: "batch", 1: "channels", 2: "height", 3: "width"}},
            [f32("latent_sample", [1, 4, 8, 8])], {"sample": {"dims": [1, 3, 64, 64], "dtype": "float32"}})

    seed(b.name, "sc")
    sc = nets.StableDiffusionSafetyChecker(image_size=SAFETY_IMAGE, patch=8)
    b.graph("safety_checker/model.onnx", sc, (torch.randn(1, 3, SAFETY_IMAGE, SAFETY_IMAGE), torch.rand(1, 64, 64, 3)),
            [io("clip_input", "float32", ["batch", "channels", "height", "width"]),
             io("images", "float32", ["batch", "height", "width", "channels"])],
            [io("out_images", "float32", [None, None, None, None]), io("has_nsfw_concepts", "bool", [None])],
            {"clip_input": {0: "batch", 1: "channels", 2: "height", 3: "width"},
             "images": {0: "batch", 1: "height", 2: "width", 3: "channels"}},
            [f32("clip_input", [1, 3, SAFETY_IMAGE, SAFETY_IMAGE]), f32("images", [1, 64, 64, 3], 0, 1)],
            {"has_nsfw_concepts": {"dims": [1], "dtype": "bool"}},
            notes=f"clip_input must be {SAFETY_IMAGE}x{SAFETY_IMAGE} in the twin (224x224 real): the position "
                  "embedding table fixes it although the axes are declared dynamic")
    return b, {
        "mimics": "Stable Diffusion 1.5 converted by diffusers scripts/convert_stable_diffusion_checkpoint_to_onnx.py "
                  "(the layout of e.g. runwayml/stable-diffusion-v1-5@onnx, onnx-community/stable-diffusion-v1-5-ONNX); "
                  "loaded by diffusers OnnxStableDiffusionPipeline",
        "facts": ["F1", "F2", "F3", "F4", "F5", "F6", "F20", "F21"],
        "pipeline": {"family": "sd15", "latent_channels": 4, "vae_scale_factor": 8, "vae_scaling_factor": 0.18215,
                     "clip_max_length": 77, "prediction": "epsilon",
                     "vae_encoder_output": "latent_sample (sampled inside the graph)"},
        "real_sized": ["77 CLIP positions", "4 latent channels", "VAE scale factor 8", "timestep float32 (batch)",
                       "input_ids int32", "scheduler config", "feature extractor semantics"],
        "shrunk": {"clip_hidden": f"{CLIP_DIM} (768)", "clip_layers": f"{CLIP_LAYERS} (12)",
                   "vocab": f"{vocab} (49408)", "unet_channels": f"{list(UNET_CH)} ([320, 640, 1280, 1280])",
                   "unet_blocks": "2 down / 2 up, 1 layer each (4 / 4, 2 each)",
                   "vae_channels": f"{list(VAE_CH)} ([128, 256, 512, 512])",
                   "safety_checker": f"ViT 1 layer, {SAFETY_IMAGE}px input (24 layers, 224px)"},
    }


# =========================================================================== SD 1.5, Optimum --fp16

def build_sd15_optimum_fp16(root: Path):
    """optimum-cli export onnx --task stable-diffusion --fp16 --device cuda, Optimum 1.23.x."""
    b = Builder(root, "sd15-optimum-fp16")
    vocab = tok.write_clip_tokenizer(root / "tokenizer")
    write_json(root / "scheduler" / "scheduler_config.json", PNDM)
    write_json(root / "feature_extractor" / "preprocessor_config.json", clip_image_processor())
    write_json(root / "model_index.json", {
        "_class_name": "StableDiffusionPipeline", "_diffusers_version": "0.31.0",
        "feature_extractor": ["transformers", "CLIPImageProcessor"], "image_encoder": [None, None],
        "requires_safety_checker": True, "safety_checker": ["stable_diffusion", "StableDiffusionSafetyChecker"],
        "scheduler": ["diffusers", "PNDMScheduler"], "text_encoder": ["transformers", "CLIPTextModel"],
        "tokenizer": ["transformers", "CLIPTokenizer"], "unet": ["diffusers", "UNet2DConditionModel"],
        "vae": ["diffusers", "AutoencoderKL"]})
    write_json(root / "text_encoder" / "config.json", clip_text_config(vocab, extra={"torch_dtype": "float16"}))
    write_json(root / "unet" / "config.json", unet_config(CLIP_DIM, extra={
        "requires_aesthetics_score": False, "text_encoder_projection_dim": CLIP_DIM, "time_cond_proj_dim": None}))
    vcfg = vae_config(4, 0.18215)
    write_json(root / "vae_encoder" / "config.json", vcfg)
    write_json(root / "vae_decoder" / "config.json", vcfg)

    f32_, f16 = torch.float32, torch.float16

    seed(b.name, "te")
    te = nets.cast_io(nets.CLIPTextModel(vocab, CLIP_DIM, 2, CLIP_LAYERS), {}, f16)
    b.graph("text_encoder/model.onnx", te, (torch.randint(0, vocab, (1, 77), dtype=torch.int32),),
            [io("input_ids", "int32", ["batch_size", "sequence_length"])],
            [io("last_hidden_state", "float16", ["batch_size", "sequence_length", CLIP_DIM]),
             io("pooler_output", "float16", ["batch_size", CLIP_DIM])],
            {"input_ids": {0: "batch_size", 1: "sequence_length"},
             "last_hidden_state": {0: "batch_size", 1: "sequence_length"}, "pooler_output": {0: "batch_size"}},
            [typed("int32", "input_ids", [2, 77], 0, vocab)],
            {"last_hidden_state": {"dims": [2, 77, CLIP_DIM], "dtype": "float16"}}, fp16_weights=True)

    seed(b.name, "unet")
    unet = nets.cast_io(nets.UNet2DConditionModel(channels=UNET_CH, cross_dim=CLIP_DIM), {0: f32_, 2: f32_}, f16)
    b.graph("unet/model.onnx", unet,
            (torch.randn(2, 4, 8, 8).half(), torch.randint(0, 1000, (2,)), torch.randn(2, 16, CLIP_DIM).half()),
            [io("sample", "float16", ["batch_size", 4, "height", "width"]), io("timestep", "int64", ["steps"]),
             io("encoder_hidden_states", "float16", ["batch_size", "sequence_length", CLIP_DIM])],
            [io("out_sample", "float16", ["batch_size", 4, "height", "width"])],
            {"sample": {0: "batch_size", 2: "height", 3: "width"}, "timestep": {0: "steps"},
             "encoder_hidden_states": {0: "batch_size", 1: "sequence_length"},
             "out_sample": {0: "batch_size", 2: "height", 3: "width"}},
            [typed("float16", "sample", [2, 4, 8, 8]), typed("int64", "timestep", [1], 0, 1000),
             typed("float16", "encoder_hidden_states", [2, 77, CLIP_DIM])],
            {"out_sample": {"dims": [2, 4, 8, 8], "dtype": "float16"}}, fp16_weights=True,
            notes="timestep is int64 of shape (steps,): a (1,) step broadcasts over the batch")

    seed(b.name, "vae")
    vae = nets.AutoencoderKL(4, VAE_CH)
    b.graph("vae_encoder/model.onnx", nets.cast_io(nets.set_forward(vae, vae.parameters_of), {0: f32_}, f16), (torch.randn(1, 3, 64, 64).half(),),
            [io("sample", "float16", ["batch_size", 3, "height", "width"])],
            [io("latent_parameters", "float16", ["batch_size", 8, "height_latent", "width_latent"])],
            {"sample": {0: "batch_size", 2: "height", 3: "width"},
             "latent_parameters": {0: "batch_size", 2: "height_latent", 3: "width_latent"}},
            [typed("float16", "sample", [1, 3, 64, 64])],
            {"latent_parameters": {"dims": [1, 8, 8, 8], "dtype": "float16"}}, fp16_weights=True,
            notes="latent_parameters = latent_dist.parameters: mean (4 channels) then log-variance (4)")
    b.graph("vae_decoder/model.onnx", nets.cast_io(nets.set_forward(vae, vae.decode), {0: f32_}, f16), (torch.randn(1, 4, 8, 8).half(),),
            [io("latent_sample", "float16", ["batch_size", 4, "height_latent", "width_latent"])],
            [io("sample", "float16", ["batch_size", 3, "height", "width"])],
            {"latent_sample": {0: "batch_size", 2: "height_latent", 3: "width_latent"},
             "sample": {0: "batch_size", 2: "height", 3: "width"}},
            [typed("float16", "latent_sample", [1, 4, 8, 8])],
            {"sample": {"dims": [1, 3, 64, 64], "dtype": "float16"}}, fp16_weights=True)
    return b, {
        "mimics": "Stable Diffusion 1.5 exported by `optimum-cli export onnx --fp16 --device cuda` with Optimum "
                  "1.23.x (the last releases before the Optimum 1.24 refactor); loaded by ORTStableDiffusionPipeline",
        "facts": ["F7", "F8", "F9", "F10", "F11", "F12", "F20", "F21"],
        "pipeline": {"family": "sd15", "latent_channels": 4, "vae_scale_factor": 8, "vae_scaling_factor": 0.18215,
                     "clip_max_length": 77, "prediction": "epsilon",
                     "vae_encoder_output": "latent_parameters (mean, logvar)"},
        "real_sized": ["float16 graph I/O", "timestep int64 (steps)", "input_ids int32", "4 latent channels",
                       "VAE scale factor 8", "no safety_checker graph (Optimum does not export it)"],
        "shrunk": {"clip_hidden": f"{CLIP_DIM} (768)", "vocab": f"{vocab} (49408)",
                   "unet_channels": f"{list(UNET_CH)} ([320, 640, 1280, 1280])",
                   "vae_channels": f"{list(VAE_CH)} ([128, 256, 512, 512])"},
        "deviations": ["weights are stored float16 but upcast with Cast nodes and computed in float32, so the CPU "
                       "execution provider can run the twin; a real --fp16 export computes in float16 (needs a GPU "
                       "provider in practice)"],
    }


# =========================================================================== SDXL, Optimum

def build_sdxl_optimum(root: Path):
    """Optimum 1.12-era export of stabilityai/stable-diffusion-xl-base-1.0 (the repo's ONNX files)."""
    b = Builder(root, "sdxl-optimum")
    vocab = tok.write_clip_tokenizer(root / "tokenizer")
    tok.write_clip_tokenizer(root / "tokenizer_2", pad_token="!", name="laion/CLIP-ViT-bigG-14-laion2B-39B-b160k")
    write_json(root / "scheduler" / "scheduler_config.json", EULER_SDXL)
    write_json(root / "model_index.json", {
        "_class_name": "StableDiffusionXLPipeline", "_diffusers_version": "0.19.0.dev0",
        "force_zeros_for_empty_prompt": True, "scheduler": ["diffusers", "EulerDiscreteScheduler"],
        "text_encoder": ["transformers", "CLIPTextModel"], "text_encoder_2": ["transformers", "CLIPTextModelWithProjection"],
        "tokenizer": ["transformers", "CLIPTokenizer"], "tokenizer_2": ["transformers", "CLIPTokenizer"],
        "unet": ["diffusers", "UNet2DConditionModel"], "vae": ["diffusers", "AutoencoderKL"]})
    write_json(root / "text_encoder" / "config.json", clip_text_config(vocab, extra={"output_hidden_states": True}))
    write_json(root / "text_encoder_2" / "config.json", clip_text_config(
        vocab, arch="CLIPTextModelWithProjection", act="gelu", extra={"output_hidden_states": True}))
    cross = 2 * CLIP_DIM
    write_json(root / "unet" / "config.json", unet_config(cross, sdxl=True, extra={
        "requires_aesthetics_score": False, "text_encoder_projection_dim": CLIP_DIM}))
    vcfg = vae_config(4, 0.13025, version="0.20.0.dev0")
    write_json(root / "vae_encoder" / "config.json", vcfg)
    write_json(root / "vae_decoder" / "config.json", vcfg)

    L = CLIP_LAYERS
    hs = lambda: [io(f"hidden_states.{i}", "float32", ["batch_size", "sequence_length", CLIP_DIM]) for i in range(L + 1)]
    hs_axes = {f"hidden_states.{i}": {0: "batch_size", 1: "sequence_length"} for i in range(L + 1)}
    ids = (torch.randint(0, vocab, (1, 77), dtype=torch.int32),)
    seed(b.name, "te")
    te = nets.CLIPTextModel(vocab, CLIP_DIM, 2, L, output_hidden_states=True)
    b.graph("text_encoder/model.onnx", te, ids,
            [io("input_ids", "int32", ["batch_size", "sequence_length"])],
            [io("last_hidden_state", "float32", ["batch_size", "sequence_length", CLIP_DIM]),
             io("pooler_output", "float32", ["batch_size", CLIP_DIM])] + hs(),
            {"input_ids": {0: "batch_size", 1: "sequence_length"},
             "last_hidden_state": {0: "batch_size", 1: "sequence_length"}, "pooler_output": {0: "batch_size"}, **hs_axes},
            [typed("int32", "input_ids", [2, 77], 0, vocab)],
            {f"hidden_states.{L - 1}": {"dims": [2, 77, CLIP_DIM], "dtype": "float32"}},
            notes=f"hidden_states.0..{L} = embeddings + every layer (13 outputs for CLIP-L); SDXL uses hidden_states.{L - 1} "
                  "(the penultimate, hidden_states.11 in the real model)")
    seed(b.name, "te2")
    te2 = nets.CLIPTextModelWithProjection(vocab, CLIP_DIM, 2, L, proj=CLIP_DIM, output_hidden_states=True)
    b.graph("text_encoder_2/model.onnx", te2, ids,
            [io("input_ids", "int32", ["batch_size", "sequence_length"])],
            [io("text_embeds", "float32", ["batch_size", "sequence_length"]),
             io("last_hidden_state", "float32", ["batch_size", "sequence_length", CLIP_DIM])] + hs(),
            {"input_ids": {0: "batch_size", 1: "sequence_length"},
             "text_embeds": {0: "batch_size", 1: "sequence_length"},
             "last_hidden_state": {0: "batch_size", 1: "sequence_length"}, **hs_axes},
            [typed("int32", "input_ids", [2, 77], 0, vocab)],
            {"text_embeds": {"dims": [2, CLIP_DIM], "dtype": "float32"}},
            external={"location": "model.onnx_data", "size_threshold": 1024},
            notes="text_embeds is (batch, projection_dim) but Optimum declares its dim 1 as 'sequence_length' "
                  "(CLIPTextWithProjectionOnnxConfig); 33 hidden_states outputs in the real model")

    seed(b.name, "unet")
    unet = nets.UNet2DConditionModel(channels=UNET_CH, down_types=("DownBlock2D", "CrossAttnDownBlock2D"),
                                     up_types=("CrossAttnUpBlock2D", "UpBlock2D"), cross_dim=cross,
                                     linear_projection=True, addition_time_embed_dim=8, projection_dim=CLIP_DIM)
    b.graph("unet/model.onnx", unet,
            (torch.randn(2, 4, 8, 8), torch.randint(0, 1000, (2,)), torch.randn(2, 77, cross),
             torch.randn(2, CLIP_DIM), torch.randn(2, 6)),
            [io("sample", "float32", ["batch_size", "num_channels", "height", "width"]),
             io("timestep", "int64", ["steps"]),
             io("encoder_hidden_states", "float32", ["batch_size", "sequence_length", cross]),
             io("text_embeds", "float32", ["batch_size", CLIP_DIM]), io("time_ids", "float32", ["batch_size", 6])],
            [io("out_sample", "float32", ["batch_size", "num_channels", "height", "width"])],
            {"sample": {0: "batch_size", 1: "num_channels", 2: "height", 3: "width"}, "timestep": {0: "steps"},
             "encoder_hidden_states": {0: "batch_size", 1: "sequence_length"}, "text_embeds": {0: "batch_size"},
             "time_ids": {0: "batch_size"}, "out_sample": {0: "batch_size", 1: "num_channels", 2: "height", 3: "width"}},
            [f32("sample", [2, 4, 8, 8]), typed("int64", "timestep", [1], 0, 1000),
             f32("encoder_hidden_states", [2, 77, cross]), f32("text_embeds", [2, CLIP_DIM]),
             f32("time_ids", [2, 6], 0, 64)],
            {"out_sample": {"dims": [2, 4, 8, 8], "dtype": "float32"}},
            external={"location": "model.onnx_data", "size_threshold": 1024},
            notes=f"encoder_hidden_states = concat(text_encoder hidden_states.{L - 1}, text_encoder_2 hidden_states.{L - 1}) "
                  f"-> {cross} (2048 real); text_embeds = text_encoder_2 text_embeds ({CLIP_DIM}, 1280 real); "
                  "time_ids = (orig_h, orig_w, crop_top, crop_left, target_h, target_w), 6 as real")

    seed(b.name, "vae")
    vae = nets.AutoencoderKL(4, VAE_CH)
    b.graph("vae_encoder/model.onnx", nets.set_forward(vae, vae.sample_latent), (torch.randn(1, 3, 64, 64),),
            [io("sample", "float32", ["batch_size", "num_channels", "height", "width"])],
            [io("latent_sample", "float32", ["batch_size", "num_channels_latent", "height_latent", "width_latent"])],
            {"sample": {0: "batch_size", 1: "num_channels", 2: "height", 3: "width"},
             "latent_sample": {0: "batch_size", 1: "num_channels_latent", 2: "height_latent", 3: "width_latent"}},
            [f32("sample", [1, 3, 64, 64])], {"latent_sample": {"dims": [1, 4, 8, 8], "dtype": "float32"}},
            notes="latent_dist.sample() inside the graph (RandomNormalLike)")
    b.graph("vae_decoder/model.onnx", nets.set_forward(vae, vae.decode), (torch.randn(1, 4, 8, 8),),
            [io("latent_sample", "float32", ["batch_size", "num_channels_latent", "height_latent", "width_latent"])],
            [io("sample", "float32", ["batch_size", "num_channels", "height", "width"])],
            {"latent_sample": {0: "batch_size", 1: "num_channels_latent", 2: "height_latent", 3: "width_latent"},
             "sample": {0: "batch_size", 1: "num_channels", 2: "height", 3: "width"}},
            [f32("latent_sample", [1, 4, 8, 8])], {"sample": {"dims": [1, 3, 64, 64], "dtype": "float32"}})
    return b, {
        "mimics": "SDXL base 1.0 exported by Optimum 1.12-era (`optimum-cli export onnx --task stable-diffusion-xl`), "
                  "the ONNX files of stabilityai/stable-diffusion-xl-base-1.0; loaded by ORTStableDiffusionXLPipeline",
        "facts": ["F7", "F8", "F9", "F13", "F14", "F15", "F20", "F21"],
        "pipeline": {"family": "sdxl", "latent_channels": 4, "vae_scale_factor": 8, "vae_scaling_factor": 0.13025,
                     "clip_max_length": 77, "prediction": "epsilon", "time_ids": 6,
                     "text_embeds_dim": CLIP_DIM, "penultimate_hidden_state": f"hidden_states.{L - 1}",
                     "vae_encoder_output": "latent_sample (sampled inside the graph)"},
        "real_sized": ["time_ids 6", "timestep int64 (steps)", "input_ids int32", "dynamic channel axes",
                       "4 latent channels", "VAE scale factor 8", "external data model.onnx_data for unet and text_encoder_2"],
        "shrunk": {"clip_hidden": f"{CLIP_DIM} (768 / 1280)", "clip_layers": f"{L} (12 / 32), so hidden_states.0..{L}",
                   "text_embeds": f"{CLIP_DIM} (1280)", "encoder_hidden_states": f"{cross} (2048)",
                   "addition_time_embed_dim": "8 (256)", "unet_channels": f"{list(UNET_CH)} ([320, 640, 1280])",
                   "vocab": f"{vocab} (49408)", "vae_channels": f"{list(VAE_CH)} ([128, 256, 512, 512])"},
    }


# =========================================================================== FLUX, Optimum (external data twin)

def build_flux_optimum(root: Path):
    """Optimum >= 1.24 / optimum-onnx export of FLUX.1-dev (ORTFluxPipeline)."""
    b = Builder(root, "flux-optimum")
    vocab = tok.write_clip_tokenizer(root / "tokenizer")
    t5_vocab = tok.write_t5_tokenizer(root / "tokenizer_2")
    write_json(root / "scheduler" / "scheduler_config.json", FLOW_FLUX)
    write_json(root / "model_index.json", {
        "_class_name": "FluxPipeline", "_diffusers_version": "0.32.2",
        "feature_extractor": [None, None], "image_encoder": [None, None],
        "scheduler": ["diffusers", "FlowMatchEulerDiscreteScheduler"], "text_encoder": ["transformers", "CLIPTextModel"],
        "text_encoder_2": ["transformers", "T5EncoderModel"], "tokenizer": ["transformers", "CLIPTokenizer"],
        "tokenizer_2": ["transformers", "T5TokenizerFast"], "transformer": ["diffusers", "FluxTransformer2DModel"],
        "vae": ["diffusers", "AutoencoderKL"]})
    write_json(root / "text_encoder" / "config.json", clip_text_config(vocab, extra={"transformers_version": "4.46.2"}))
    write_json(root / "text_encoder_2" / "config.json", t5_config(t5_vocab))
    write_json(root / "transformer" / "config.json", {
        "_class_name": "FluxTransformer2DModel", "_diffusers_version": "0.30.0.dev0", "attention_head_dim": 16,
        "axes_dims_rope": [4, 6, 6], "guidance_embeds": True, "in_channels": 64, "joint_attention_dim": T5_DIM,
        "num_attention_heads": 2, "num_layers": 1, "num_single_layers": 1, "patch_size": 1,
        "pooled_projection_dim": CLIP_DIM, "requires_aesthetics_score": False, "text_encoder_projection_dim": CLIP_DIM,
        "time_cond_proj_dim": None})
    vcfg = vae_config(16, 0.3611, 0.1159, flux=True, version="0.30.0.dev0")
    write_json(root / "vae_encoder" / "config.json", vcfg)
    write_json(root / "vae_decoder" / "config.json", vcfg)
    ext = {"location": "model.onnx_data", "size_threshold": 100, "convert_attribute": True}

    seed(b.name, "te")
    te = nets.CLIPTextModel(vocab, CLIP_DIM, 2, CLIP_LAYERS)
    b.graph("text_encoder/model.onnx", te, (torch.randint(0, vocab, (1, 77)),),
            [io("input_ids", "int64", ["batch_size", "sequence_length"])],
            [io("last_hidden_state", "float32", ["batch_size", "sequence_length", CLIP_DIM]),
             io("pooler_output", "float32", ["batch_size", CLIP_DIM])],
            {"input_ids": {0: "batch_size", 1: "sequence_length"},
             "last_hidden_state": {0: "batch_size", 1: "sequence_length"}, "pooler_output": {0: "batch_size"}},
            [typed("int64", "input_ids", [1, 77], 0, vocab)],
            {"pooler_output": {"dims": [1, CLIP_DIM], "dtype": "float32"}})
    seed(b.name, "t5")
    t5 = nets.T5EncoderModel(t5_vocab, T5_DIM)
    b.graph("text_encoder_2/model.onnx", t5, (torch.randint(0, t5_vocab, (1, 32)),),
            [io("input_ids", "int64", ["batch_size", "sequence_length"])],
            [io("last_hidden_state", "float32", ["batch_size", "sequence_length", T5_DIM])],
            {"input_ids": {0: "batch_size", 1: "sequence_length"},
             "last_hidden_state": {0: "batch_size", 1: "sequence_length"}},
            [typed("int64", "input_ids", [1, 512], 0, t5_vocab)],
            {"last_hidden_state": {"dims": [1, 512, T5_DIM], "dtype": "float32"}}, external=ext)
    seed(b.name, "fx")
    fx = nets.FluxTransformer2DModel(64, 2, 16, 1, 1, T5_DIM, CLIP_DIM)
    names = ["hidden_states", "encoder_hidden_states", "pooled_projections", "timestep", "img_ids", "txt_ids", "guidance"]
    b.graph("transformer/model.onnx", fx,
            (torch.randn(1, 16, 64), torch.randn(1, 32, T5_DIM), torch.randn(1, CLIP_DIM), torch.rand(1),
             torch.zeros(16, 3, dtype=torch.int64), torch.zeros(32, 3, dtype=torch.int64), torch.full((1,), 3.5)),
            [io("hidden_states", "float32", ["batch_size", "packed_height_width", 64]),
             io("encoder_hidden_states", "float32", ["batch_size", "sequence_length", T5_DIM]),
             io("pooled_projections", "float32", ["batch_size", CLIP_DIM]), io("timestep", "float32", ["step"]),
             io("img_ids", "int64", ["packed_height_width", 3]), io("txt_ids", "int64", ["sequence_length", 3]),
             io("guidance", "float32", ["batch_size"])],
            [io("out_hidden_states", "float32", ["batch_size", "packed_height_width", 64])],
            {"hidden_states": {0: "batch_size", 1: "packed_height_width"},
             "encoder_hidden_states": {0: "batch_size", 1: "sequence_length"}, "pooled_projections": {0: "batch_size"},
             "timestep": {0: "step"}, "img_ids": {0: "packed_height_width"}, "txt_ids": {0: "sequence_length"},
             "guidance": {0: "batch_size"}, "out_hidden_states": {0: "batch_size", 1: "packed_height_width"}},
            [f32("hidden_states", [1, 32, 64]), f32("encoder_hidden_states", [1, 512, T5_DIM]),
             f32("pooled_projections", [1, CLIP_DIM]), f32("timestep", [1], 0, 1),
             typed("int64", "img_ids", [32, 3], 0, 4), typed("int64", "txt_ids", [512, 3], 0, 1),
             f32("guidance", [1], 1, 4)],
            {"out_hidden_states": {"dims": [1, 32, 64], "dtype": "float32"}}, external=ext,
            notes="timestep is sigma in [0, 1] and guidance the raw scale (the graph multiplies both by 1000); "
                  "img_ids/txt_ids int64 without batch dim (diffusers >= 0.31); a Kontext edit appends context "
                  "tokens with ids [1, row, col]")

    seed(b.name, "vae")
    vae = nets.AutoencoderKL(16, VAE_CH, quant_conv=False)
    b.graph("vae_encoder/model.onnx", nets.set_forward(vae, vae.parameters_of), (torch.randn(1, 3, 64, 64),),
            [io("sample", "float32", ["batch_size", 3, "sample_height", "sample_width"])],
            [io("latent_parameters", "float32", ["batch_size", 32, "sample_height / 8", "sample_width / 8"])],
            {"sample": {0: "batch_size", 2: "sample_height", 3: "sample_width"},
             "latent_parameters": {0: "batch_size", 2: "sample_height / 8", 3: "sample_width / 8"}},
            [f32("sample", [1, 3, 64, 48])], {"latent_parameters": {"dims": [1, 32, 8, 6], "dtype": "float32"}},
            notes="latent_parameters = mean (16 channels) then log-variance (16); z = (mean - 0.1159) * 0.3611")
    b.graph("vae_decoder/model.onnx", nets.set_forward(vae, vae.decode), (torch.randn(1, 16, 8, 8),),
            [io("latent_sample", "float32", ["batch_size", 16, "latent_height", "latent_width"])],
            [io("sample", "float32", ["batch_size", 3, "latent_height * 8", "latent_width * 8"])],
            {"latent_sample": {0: "batch_size", 2: "latent_height", 3: "latent_width"},
             "sample": {0: "batch_size", 2: "latent_height * 8", 3: "latent_width * 8"}},
            [f32("latent_sample", [1, 16, 8, 6])], {"sample": {"dims": [1, 3, 64, 48], "dtype": "float32"}})
    return b, {
        "mimics": "FLUX.1-dev exported by Optimum >= 1.24 / optimum-onnx (`optimum-cli export onnx` with a FluxPipeline), "
                  "e.g. IlyasMoutawwakil/flux-onnx-optimum; loaded by ORTFluxPipeline. The external-data twin: "
                  "transformer and text_encoder_2 keep their weights in model.onnx_data beside model.onnx",
        "facts": ["F7", "F8", "F9", "F16", "F17", "F18", "F19", "F20", "F21", "F22"],
        "pipeline": {"family": "flux", "latent_channels": 16, "vae_scale_factor": 8, "packed_channels": 64,
                     "vae_scaling_factor": 0.3611, "vae_shift_factor": 0.1159, "clip_max_length": 77,
                     "t5_max_length": 512, "guidance_embeds": True,
                     "vae_encoder_output": "latent_parameters (mean, logvar)"},
        "real_sized": ["64 packed channels (16 latent x 2x2)", "VAE scale factor 8", "16 latent channels",
                       "input_ids int64", "img_ids/txt_ids int64 (L, 3)", "timestep float32 (step)",
                       "external data model.onnx_data (size_threshold 100, convert_attribute)"],
        "shrunk": {"clip_hidden / pooled_projection_dim": f"{CLIP_DIM} (768)", "t5_d_model / joint_attention_dim":
                   f"{T5_DIM} (4096)", "transformer": "1 double + 1 single block, 2 heads x 16 (19 + 38 blocks, 24 x 128)",
                   "axes_dims_rope": "[4, 6, 6] ([16, 56, 56])", "clip_vocab": f"{vocab} (49408)",
                   "t5_vocab": f"{t5_vocab} (32100)", "vae_channels": f"{list(VAE_CH)} ([128, 256, 512, 512])"},
        "deviations": ["rotary frequencies computed in float32 (diffusers uses float64 off MPS)"],
    }


# =========================================================================== FLUX, Black Forest Labs ONNX

def build_flux_bfl(root: Path):
    """black-forest-labs/FLUX.1-Kontext-dev-onnx (TensorRT demoDiffusion-style exports)."""
    b = Builder(root, "flux-bfl")
    root.mkdir(parents=True, exist_ok=True)
    (root / "README.md").write_text(
        "# Layout twin of black-forest-labs/FLUX.1-Kontext-dev-onnx\n\nRandom weights, tiny widths; see twin.json and "
        "../FACTS.md. Like the real repository it ships no scheduler or model_index.json. The real repository ships "
        "no tokenizers either (Black Forest Labs' code loads CLIPTokenizer from openai/clip-vit-large-patch14 and "
        "T5Tokenizer from google/t5-v1_1-xxl); Atelier needs them in the folder and says which to copy from where. "
        "This twin carries them (tokenizer/, tokenizer_2/: the same files as ../flux-optimum's), as a user's folder "
        "would after that copy.\n")
    tok.write_clip_tokenizer(root / "tokenizer")
    tok.write_t5_tokenizer(root / "tokenizer_2")
    vocab = tok.clip_vocab()[0].__len__()
    t5_vocab = len(tok.t5_pieces()) + tok.EXTRA_IDS
    bf16 = torch.bfloat16

    seed(b.name, "clip")
    clip = nets.CLIPPooledOnly(vocab, CLIP_DIM, 2, CLIP_LAYERS)
    b.graph("clip.opt/model.onnx", clip, (torch.zeros(1, 77, dtype=torch.int32),),
            [io("input_ids", "int32", ["B", 77])],
            [io("text_embeddings", "float32", ["B", 77, CLIP_DIM]), io("pooled_embeddings", "float32", ["B", CLIP_DIM])],
            {"input_ids": {0: "B"}, "text_embeddings": {0: "B"}, "pooled_embeddings": {0: "B"}},
            [typed("int32", "input_ids", [1, 77], 0, vocab)],
            {"pooled_embeddings": {"dims": [1, CLIP_DIM], "dtype": "float32"}},
            static_output_dims={"text_embeddings": {1: 77}},
            notes="outputs per TensorRT demoDiffusion CLIPModel(keep_pooled_output=True); BFL's own older exporter "
                  "kept only pooled_embeddings (unconfirmed which one the published file has)")
    seed(b.name, "t5")
    t5 = nets.T5EncoderModel(t5_vocab, T5_DIM)
    b.graph("t5.opt/model.onnx", t5, (torch.zeros(1, 512, dtype=torch.int32),),
            [io("input_ids", "int32", ["B", 512])],
            [io("text_embeddings", "float32", ["B", 512, T5_DIM])],
            {"input_ids": {0: "B"}, "text_embeddings": {0: "B"}},
            [typed("int32", "input_ids", [1, 512], 0, t5_vocab)],
            {"text_embeddings": {"dims": [1, 512, T5_DIM], "dtype": "float32"}},
            external={"location": "backbone.onnx_data", "size_threshold": 1024})

    seed(b.name, "fx")
    fx = nets.cast_io(nets.FluxTransformer2DModel(64, 2, 16, 1, 1, T5_DIM, CLIP_DIM),
                      {0: torch.float32, 1: torch.float32, 2: torch.float32, 3: torch.float32}, bf16)
    b.graph("transformer.opt/bf16/model.onnx", fx,
            (torch.randn(1, 32, 64).to(bf16), torch.randn(1, 512, T5_DIM).to(bf16), torch.randn(1, CLIP_DIM).to(bf16),
             torch.ones(1).to(bf16), torch.zeros(32, 3), torch.zeros(512, 3), torch.full((1,), 3.5)),
            [io("hidden_states", "bfloat16", ["B", "latent_dim", 64]),
             io("encoder_hidden_states", "bfloat16", ["B", 512, T5_DIM]),
             io("pooled_projections", "bfloat16", ["B", CLIP_DIM]), io("timestep", "bfloat16", ["B"]),
             io("img_ids", "float32", ["latent_dim", 3]), io("txt_ids", "float32", [512, 3]),
             io("guidance", "float32", ["B"])],
            [io("latent", "bfloat16", ["B", "latent_dim", 64])],
            {"hidden_states": {0: "B", 1: "latent_dim"}, "encoder_hidden_states": {0: "B"},
             "pooled_projections": {0: "B"}, "timestep": {0: "B"}, "img_ids": {0: "latent_dim"},
             "guidance": {0: "B"}, "latent": {0: "B", 1: "latent_dim"}},
            [f32("hidden_states", [1, 32, 64]), f32("encoder_hidden_states", [1, 512, T5_DIM]),
             f32("pooled_projections", [1, CLIP_DIM]), f32("timestep", [1], 0, 1),
             f32("img_ids", [32, 3], 0, 4), f32("txt_ids", [512, 3], 0, 0), f32("guidance", [1], 1, 4)],
            {"latent": {"dims": [1, 32, 64], "dtype": "float32"}},
            external={"location": "backbone.onnx_data", "size_threshold": 1024}, wrap_bf16=True,
            notes="bfloat16 I/O except img_ids/txt_ids/guidance (float32), ids without batch dim, txt_ids fixed "
                  "(512, 3); Cast nodes inside, float32 compute. onnxruntime-node cannot create bfloat16 tensors "
                  "nor even open a session with bfloat16 graph inputs ('Unsupported data type: 16'): an engine must "
                  "rewrite the I/O to float32 + Cast before loading (the smoke run does exactly that)")

    seed(b.name, "vae")
    vae = nets.AutoencoderKL(16, VAE_CH, quant_conv=False)
    b.graph("vae.opt/model.onnx", nets.cast_io(nets.set_forward(vae, vae.decode), {0: torch.float32}, bf16), (torch.randn(1, 16, 8, 8).to(bf16),),
            [io("latent", "bfloat16", ["B", 16, "H", "W"])], [io("images", "bfloat16", ["B", 3, "8H", "8W"])],
            {"latent": {0: "B", 2: "H", 3: "W"}, "images": {0: "B", 2: "8H", 3: "8W"}},
            [f32("latent", [1, 16, 8, 6])], {"images": {"dims": [1, 3, 64, 48], "dtype": "float32"}}, wrap_bf16=True,
            notes="decoder only; the caller applies z / 0.3611 + 0.1159 before it")
    b.graph("vae_encoder.opt/model.onnx", nets.cast_io(nets.set_forward(vae, vae.sample_latent), {0: torch.float32}, bf16), (torch.randn(1, 3, 64, 64).to(bf16),),
            [io("images", "bfloat16", ["B", 3, "8H", "8W"])], [io("latent", "bfloat16", ["B", 16, "H", "W"])],
            {"images": {0: "B", 2: "8H", 3: "8W"}, "latent": {0: "B", 2: "H", 3: "W"}},
            [f32("images", [1, 3, 64, 48])], {"latent": {"dims": [1, 16, 8, 6], "dtype": "float32"}}, wrap_bf16=True,
            static_output_dims={"latent": {1: 16}},
            notes="latent_dist.sample() inside the graph; the caller applies 0.3611 * (z - 0.1159) after it")
    return b, {
        "mimics": "black-forest-labs/FLUX.1-Kontext-dev-onnx (same layout as FLUX.1-dev-onnx plus vae_encoder.opt): "
                  "exports made with NVIDIA TensorRT demoDiffusion-style code, consumed by BFL's flux/trt code",
        "facts": ["F22", "F23", "F24", "F25", "F26", "F27", "F28", "F29"],
        "pipeline": {"family": "flux-kontext", "latent_channels": 16, "vae_scale_factor": 8, "packed_channels": 64,
                     "vae_scaling_factor": 0.3611, "vae_shift_factor": 0.1159, "clip_max_length": 77,
                     "t5_max_length": 512, "guidance_embeds": True, "tokenizers": "tokenizer/ and tokenizer_2/ added "
                     "(the real repository has none: they load from openai/clip-vit-large-patch14 and google/t5-v1_1-xxl)"},
        "real_sized": ["77 CLIP tokens", "512 T5 tokens (fixed)", "txt_ids (512, 3)", "ids without batch dim",
                       "64 packed channels", "16 latent channels", "VAE scale factor 8", "output named latent",
                       "backbone.onnx_data beside t5.opt and transformer.opt/bf16 model.onnx"],
        "shrunk": {"clip_hidden": f"{CLIP_DIM} (768)", "t5_d_model": f"{T5_DIM} (4096)",
                   "transformer": "1 double + 1 single block (19 + 38)", "vae_channels": f"{list(VAE_CH)}"},
        "absent": ["transformer.opt/fp8 and transformer.opt/fp4 (TensorRT quantization ops, FLOAT8/FP4 types that "
                   "onnx 1.12 cannot express and stock ORT does not run)", "t5-fp8.opt", "teaser.png / LICENSE.md"],
        "unconfirmed": ["the dtypes of clip.opt/t5.opt (float32 chosen) and of vae.opt/vae_encoder.opt (bfloat16 chosen)",
                        "whether clip.opt has text_embeddings besides pooled_embeddings",
                        "symbolic names of output dims", "opset / IR version of the real files"],
    }


TWINS = {
    "sd15-diffusers": build_sd15_diffusers,
    "sd15-optimum-fp16": build_sd15_optimum_fp16,
    "sdxl-optimum": build_sdxl_optimum,
    "flux-optimum": build_flux_optimum,
    "flux-bfl": build_flux_bfl,
}
