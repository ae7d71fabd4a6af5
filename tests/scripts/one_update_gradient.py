"""Run under `accelerate launch`: the gradient of one update of `pretrain.accumulate_gradients`, as
the first process sees it after DDP's all-reduce, saved to OUTPUT (a torch file).

    one_update_gradient.py CONFIG_DIR OUTPUT BATCHES_PER_PROCESS

CONFIG_DIR must hold a config without dropout, so that the model in train mode is deterministic.
The first BATCHES_PER_PROCESS x processes batches of epoch 0 (by-count batches of 4 crops) make the
update, so one process accumulating 2 batches and two processes with 1 each see the same crops.
"""

import sys

import torch
from accelerate import Accelerator
from accelerate.utils import set_seed
from transformers import Wav2Vec2Config, Wav2Vec2FeatureExtractor, Wav2Vec2ForPreTraining

from hf_seqlen.args import DataArguments
from hf_seqlen.audio import AudioDecoder
from hf_seqlen.collate import PretrainingCollator
from hf_seqlen.costs import CostMeter
from hf_seqlen.feature_encoder_terms import FeatureEncoderTerms
from hf_seqlen.pretrain import accumulate_gradients, ddp_options, load_splits, make_loader, stand_in_batch

config_dir, output, batches_per_process = sys.argv[1], sys.argv[2], int(sys.argv[3])
config = Wav2Vec2Config.from_pretrained(config_dir)
extractor = Wav2Vec2FeatureExtractor.from_pretrained(config_dir)
accelerator = Accelerator(kwargs_handlers=[ddp_options(config)])
set_seed(0)
model = Wav2Vec2ForPreTraining(config)


def seed_by_batch(quantizer, args, kwargs):
    """The config has no dropout; what stays random is the quantizer's gumbel noise, which one process
    drawing for two batches draws differently from two processes drawing for one: seed it by the batch."""
    torch.manual_seed(int(kwargs["mask_time_indices"].sum()))


model.quantizer.register_forward_pre_hook(seed_by_batch, with_kwargs=True)
model = accelerator.prepare(model)

data_args = DataArguments(max_duration=1.0)
train, _ = load_splits(data_args, seed=0)
collator = PretrainingCollator(config, extractor.sampling_rate, extractor.return_attention_mask, seed=0)
loader, _ = make_loader(train, data_args, 4, None, AudioDecoder.for_extractor(extractor), collator, accelerator,
                        seed=0, crop_mode="random")
window = [batch for _, batch in zip(range(batches_per_process), loader)]
accumulate_gradients(model, accelerator, window, stand_in_batch(collator, 0.5), CostMeter(accelerator), step=0,
                     encoder_terms=FeatureEncoderTerms(accelerator.unwrap_model(model), grad_mult=1.0, penalty_weight=0.0))
if accelerator.is_main_process:
    torch.save({name: p.grad for name, p in accelerator.unwrap_model(model).named_parameters() if p.grad is not None},
               output)
accelerator.wait_for_everyone()
accelerator.end_training()
